// Command cluster-dns is the test node's cluster DNS: what CoreDNS is to a real cluster, for the
// one thing pods here need from it, a Service's name resolving to its ClusterIP. node-up.sh runs
//
//	cluster-dns -listen BRIDGE_GATEWAY:53 -kubeconfig KUBECONFIG
//
// and gives the kubelet that address as clusterDNS, so a pod's resolver asks it for
// `<service>.<namespace>.svc.cluster.local` (and its search-path forms). It watches Services
// through the API server, answers A for a Service's ClusterIP, an empty answer for other types of
// a name it knows, and NXDOMAIN for everything else: nothing is forwarded, since the test
// machine reaches no other DNS server. UDP and TCP. Exits 0 on SIGTERM or SIGINT.
package main

import (
	"encoding/binary"
	"flag"
	"io"
	"log"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/net/dns/dnsmessage"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
)

type records struct {
	mu   sync.RWMutex
	byFQ map[string]netip.Addr // "name.namespace.svc.<domain>." -> ClusterIP
}

func (r *records) set(svc *corev1.Service, domain string, add bool) {
	name := strings.ToLower(svc.Name + "." + svc.Namespace + ".svc." + domain + ".")
	r.mu.Lock()
	defer r.mu.Unlock()
	ip, err := netip.ParseAddr(svc.Spec.ClusterIP)
	if !add || err != nil || !ip.Is4() {
		delete(r.byFQ, name)
		return
	}
	r.byFQ[name] = ip
}

func (r *records) lookup(name string) (netip.Addr, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	ip, ok := r.byFQ[strings.ToLower(name)]
	return ip, ok
}

// answer builds the reply to one query message.
func answer(query []byte, r *records) ([]byte, bool) {
	var p dnsmessage.Parser
	header, err := p.Start(query)
	if err != nil {
		return nil, false
	}
	q, err := p.Question()
	if err != nil {
		return nil, false
	}
	reply := dnsmessage.Header{ID: header.ID, Response: true, Authoritative: true, RecursionDesired: header.RecursionDesired}
	ip, known := r.lookup(q.Name.String())
	if !known {
		reply.RCode = dnsmessage.RCodeNameError
	}
	b := dnsmessage.NewBuilder(make([]byte, 0, 512), reply)
	b.EnableCompression()
	if b.StartQuestions() != nil || b.Question(q) != nil || b.StartAnswers() != nil {
		return nil, false
	}
	if known && q.Type == dnsmessage.TypeA && q.Class == dnsmessage.ClassINET {
		if err := b.AResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 5}, dnsmessage.AResource{A: ip.As4()}); err != nil {
			return nil, false
		}
	}
	out, err := b.Finish()
	return out, err == nil
}

func serveUDP(conn net.PacketConn, r *records) {
	buf := make([]byte, 1500)
	for {
		n, from, err := conn.ReadFrom(buf)
		if err != nil {
			return
		}
		if out, ok := answer(buf[:n], r); ok {
			_, _ = conn.WriteTo(out, from)
		}
	}
}

func serveTCP(ln net.Listener, r *records) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func(c net.Conn) {
			defer c.Close()
			for {
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				var size [2]byte
				if _, err := io.ReadFull(c, size[:]); err != nil {
					return
				}
				msg := make([]byte, binary.BigEndian.Uint16(size[:]))
				if _, err := io.ReadFull(c, msg); err != nil {
					return
				}
				out, ok := answer(msg, r)
				if !ok {
					return
				}
				binary.BigEndian.PutUint16(size[:], uint16(len(out)))
				if _, err := c.Write(append(size[:], out...)); err != nil {
					return
				}
			}
		}(c)
	}
}

func main() {
	listen := flag.String("listen", "", "address to answer on (host:port)")
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig of the cluster whose Services it answers for")
	domain := flag.String("domain", "cluster.local", "the cluster domain")
	flag.Parse()
	if *listen == "" || *kubeconfig == "" {
		log.Fatal("usage: cluster-dns -listen HOST:PORT -kubeconfig FILE [-domain cluster.local]")
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		log.Fatal(err)
	}
	client := kubernetes.NewForConfigOrDie(cfg)
	r := &records{byFQ: map[string]netip.Addr{}}
	factory := informers.NewSharedInformerFactory(client, 0)
	informer := factory.Core().V1().Services().Informer()
	_, err = informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { r.set(o.(*corev1.Service), *domain, true) },
		UpdateFunc: func(_, o any) { r.set(o.(*corev1.Service), *domain, true) },
		DeleteFunc: func(o any) {
			if svc, ok := o.(*corev1.Service); ok {
				r.set(svc, *domain, false)
			} else if tomb, ok := o.(cache.DeletedFinalStateUnknown); ok {
				if svc, ok := tomb.Obj.(*corev1.Service); ok {
					r.set(svc, *domain, false)
				}
			}
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	stopCh := make(chan struct{})
	factory.Start(stopCh)
	if !cache.WaitForCacheSync(stopCh, informer.HasSynced) {
		log.Fatal("the Services never synced")
	}

	udp, err := net.ListenPacket("udp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	tcp, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	go serveUDP(udp, r)
	go serveTCP(tcp, r)
	log.Printf("answering for *.svc.%s on %s (udp and tcp)", *domain, *listen)

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	<-stop
	close(stopCh)
	_ = udp.Close()
	_ = tcp.Close()
}
