// Command tcplb is a round-robin TCP load balancer for the cluster test
// scripts: each accepted connection goes to the next backend that accepts
// a connection, and bytes are copied both ways untouched (TLS passes
// through, as with a layer-4 balancer in front of kmipd nodes).
//
//	go run ./testdata/tcplb LISTEN BACKEND [BACKEND...]
package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"sync/atomic"
	"time"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: tcplb LISTEN BACKEND [BACKEND...]")
		os.Exit(2)
	}
	backends := os.Args[2:]
	l, err := net.Listen("tcp", os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "tcplb:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "tcplb: %s -> %v\n", l.Addr(), backends)
	var next atomic.Uint64
	for {
		c, err := l.Accept()
		if err != nil {
			fmt.Fprintln(os.Stderr, "tcplb:", err)
			os.Exit(1)
		}
		go forward(c, backends, int(next.Add(1)-1))
	}
}

// forward connects c to the first backend, from the first-th, that accepts.
func forward(c net.Conn, backends []string, first int) {
	defer c.Close()
	var b net.Conn
	for i := range backends {
		var err error
		if b, err = net.DialTimeout("tcp", backends[(first+i)%len(backends)], 2*time.Second); err == nil {
			break
		}
	}
	if b == nil {
		return
	}
	defer b.Close()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		done <- struct{}{}
	}
	go pipe(b, c)
	go pipe(c, b)
	<-done
	<-done
}
