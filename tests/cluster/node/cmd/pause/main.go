// Command pause is the whole of the node's sandbox ("pause") image: it holds a pod's namespaces
// open and does nothing else. No registry can be reached here, so the image the kubelet and
// containerd expect is built from this, statically, and imported into containerd by up.sh.
// It waits for SIGTERM or SIGINT and exits 0, so stopping a pod is quick and clean.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	// As PID 1 of its pod it also inherits orphans; reaping them keeps zombies from piling up.
	signal.Notify(stop, syscall.SIGCHLD)
	for sig := range stop {
		if sig != syscall.SIGCHLD {
			return
		}
		for {
			pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
