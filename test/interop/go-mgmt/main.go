// A Go client (github.com/rabbitmq/amqp091-go) that a management test closes from outside:
// it connects with a connection_name, says "connected", and reports what NotifyClose delivers
// as "closed CODE REASON" (or "timeout" after 30 s).
//
// Usage: <program> amqp://guest:guest@127.0.0.1:5672/ NAME
// Build: GO111MODULE=off GOPATH=/usr/share/gocode go build -o go-mgmt .
package main

import (
	"fmt"
	"os"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Println("usage: go-mgmt URL CONNECTION_NAME")
		os.Exit(2)
	}
	conn, err := amqp.DialConfig(os.Args[1], amqp.Config{Properties: amqp.Table{"connection_name": os.Args[2]}})
	if err != nil {
		fmt.Println("FAIL dial:", err)
		os.Exit(1)
	}
	closed := conn.NotifyClose(make(chan *amqp.Error, 1))
	fmt.Println("connected")
	select {
	case e := <-closed:
		if e == nil {
			fmt.Println("closed none")
		} else {
			fmt.Printf("closed %d %s\n", e.Code, e.Reason)
		}
	case <-time.After(30 * time.Second):
		fmt.Println("timeout")
		os.Exit(1)
	}
}
