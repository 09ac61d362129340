//go:build !streadway

// Binds the shared checks (checks.go) to github.com/rabbitmq/amqp091-go.
// Build: GO111MODULE=off GOPATH=/usr/share/gocode go build -o amqp091-checks .
package main

import (
	"context"

	amqp "github.com/rabbitmq/amqp091-go"
)

const libName = "amqp091-go"

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
	return ch.PublishWithContext(context.Background(), exchange, key, mandatory, false, msg)
}

// Field types only this library can write. amqp091-go writes byte (uint8) as 'B' and
// int8 as 'b'; it reads them back the same way.
func libSpecificHeaders() Table {
	return Table{"u8": byte(200), "i8": int8(-5)}
}
