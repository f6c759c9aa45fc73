// Command forward is the test node's door from the pod bridge to the API server: the API server
// listens on loopback only, which a pod's network namespace cannot reach, so node-up.sh runs
//
//	forward -listen BRIDGE_GATEWAY:PORT -to 127.0.0.1:PORT
//
// and points the `kubernetes` Service's EndpointSlice at the listen address. Pods then reach the
// API server as in any cluster, through 10.0.0.1:443 and kube-proxy, and the API server itself
// stays off every other interface. TLS passes through untouched: pods verify the API server's
// own certificate. Exits 0 on SIGTERM or SIGINT, closing the connections it holds.
package main

import (
	"errors"
	"flag"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

func main() {
	listen := flag.String("listen", "", "address to accept on (host:port)")
	to := flag.String("to", "", "address to forward each connection to (host:port)")
	flag.Parse()
	if *listen == "" || *to == "" {
		log.Fatal("usage: forward -listen HOST:PORT -to HOST:PORT")
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("forwarding %s to %s", ln.Addr(), *to)

	var mu sync.Mutex
	open := map[net.Conn]struct{}{}
	track := func(c net.Conn, add bool) {
		mu.Lock()
		defer mu.Unlock()
		if add {
			open[c] = struct{}{}
		} else {
			delete(open, c)
		}
	}

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-stop
		_ = ln.Close()
		mu.Lock()
		for c := range open {
			_ = c.Close()
		}
		mu.Unlock()
	}()

	for {
		client, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				log.Print("stopped")
				return
			}
			log.Printf("accept: %v", err)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		go func() {
			upstream, err := net.DialTimeout("tcp", *to, 5*time.Second)
			if err != nil {
				log.Printf("dial %s: %v", *to, err)
				_ = client.Close()
				return
			}
			track(client, true)
			track(upstream, true)
			defer func() {
				track(client, false)
				track(upstream, false)
				_ = client.Close()
				_ = upstream.Close()
			}()
			done := make(chan struct{}, 2)
			pipe := func(dst, src net.Conn) {
				_, _ = io.Copy(dst, src)
				// Half-close so the other direction can finish (a TLS close_notify, a last reply).
				if tcp, ok := dst.(*net.TCPConn); ok {
					_ = tcp.CloseWrite()
				}
				done <- struct{}{}
			}
			go pipe(upstream, client)
			go pipe(client, upstream)
			<-done
			<-done
		}()
	}
}
