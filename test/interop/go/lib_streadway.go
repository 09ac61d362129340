//go:build streadway

// Binds the shared checks (checks.go) to github.com/streadway/amqp.
// Build: GO111MODULE=off GOPATH=/usr/share/gocode go build -tags streadway -o streadway-checks .
package main

import (
	amqp "github.com/streadway/amqp"
)

const libName = "streadway-amqp"

type (
	Connection   = amqp.Connection
	Channel      = amqp.Channel
	Config       = amqp.Config
	Table        = amqp.Table
	Publishing   = amqp.Publishing
	Delivery     = amqp.Delivery
	Return       = amqp.Return
	Confirmation = amqp.Confirmation
	AMQPError    = amqp.Error
	Decimal      = amqp.Decimal
)

var (
	dialConfig  = amqp.DialConfig
	defaultDial = amqp.DefaultDial
	errClosed   = amqp.ErrClosed
)

func publish(ch *Channel, exchange, key string, mandatory bool, msg Publishing) error {
	return ch.Publish(exchange, key, mandatory, false, msg)
}

// Field types only this library can write. streadway/amqp writes byte (uint8) as 'b'
// (the spec's short-short-int) and reads 'b' back as byte; it has no int8 case.
func libSpecificHeaders() Table {
	return Table{"u8": byte(200)}
}
