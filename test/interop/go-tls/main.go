// A Go client (github.com/rabbitmq/amqp091-go) over amqps: the server certificate verified
// against the test CA, a PLAIN login and an EXTERNAL login with the client certificate, each
// with a publish and get; a certificate from another CA must be refused. Prints `ok NAME` or
// `FAIL NAME: reason` per check (the format test/interop/support.ts parses).
//
// Usage: <program> amqps://guest:guest@127.0.0.1:PORT/ FIXTURES_DIR
// Build: GO111MODULE=off GOPATH=/usr/share/gocode go build -o go-tls .
package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

func tlsConfig(dir, client string) (*tls.Config, error) {
	caPem, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPem) {
		return nil, fmt.Errorf("no certificate in ca.pem")
	}
	cfg := &tls.Config{RootCAs: pool, ServerName: "localhost"}
	if client != "" {
		cert, err := tls.LoadX509KeyPair(filepath.Join(dir, client+".pem"), filepath.Join(dir, client+".key"))
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// roundTrip publishes to a fresh exclusive queue and gets the message back.
func roundTrip(conn *amqp.Connection, body string) error {
	ch, err := conn.Channel()
	if err != nil {
		return err
	}
	defer ch.Close()
	q, err := ch.QueueDeclare("", false, true, true, false, nil)
	if err != nil {
		return err
	}
	if err := ch.Publish("", q.Name, false, false, amqp.Publishing{Body: []byte(body)}); err != nil {
		return err
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		m, ok, err := ch.Get(q.Name, true)
		if err != nil {
			return err
		}
		if ok {
			if string(m.Body) != body {
				return fmt.Errorf("got %q, want %q", m.Body, body)
			}
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("message not back within 5 s")
}

func check(name string, f func() error) {
	if err := f(); err != nil {
		fmt.Printf("FAIL %s: %v\n", name, err)
		return
	}
	fmt.Printf("ok %s\n", name)
}

func main() {
	if len(os.Args) != 3 {
		fmt.Println("usage: go-tls AMQPS_URL FIXTURES_DIR")
		os.Exit(2)
	}
	uri, dir := os.Args[1], os.Args[2]
	check("tls_plain_login", func() error {
		cfg, err := tlsConfig(dir, "client")
		if err != nil {
			return err
		}
		conn, err := amqp.DialTLS(uri, cfg)
		if err != nil {
			return err
		}
		defer conn.Close()
		if !conn.ConnectionState().HandshakeComplete {
			return fmt.Errorf("handshake not complete")
		}
		return roundTrip(conn, "go over tls")
	})
	check("tls_external_login", func() error {
		cfg, err := tlsConfig(dir, "client")
		if err != nil {
			return err
		}
		u, err := url.Parse(uri)
		if err != nil {
			return err
		}
		u.User = nil // the certificate names the user
		conn, err := amqp.DialTLS_ExternalAuth(u.String(), cfg)
		if err != nil {
			return err
		}
		defer conn.Close()
		return roundTrip(conn, "go external")
	})
	check("tls_wrong_ca_refused", func() error {
		cfg, err := tlsConfig(dir, "other-client")
		if err != nil {
			return err
		}
		conn, err := amqp.DialTLS(uri, cfg)
		if err == nil {
			conn.Close()
			return fmt.Errorf("a certificate from another CA was accepted")
		}
		fmt.Printf("# refused as expected: %v\n", err)
		return nil
	})
}
