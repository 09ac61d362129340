// Interoperability checks for a RabbitMQ-compatible broker, written against the Go AMQP
// clients. The same source builds two programs, one per library (see lib_amqp091.go and
// lib_streadway.go, selected with the `streadway` build tag); each library file aliases the
// few types and functions used here, so the checks themselves are shared.
//
// Usage: <program> [amqp://guest:guest@127.0.0.1:5672/]   (or env AMQP_URL)
//
//	<program> -list            prints the check names and exits
//	<program> name1 name2 ...  (after the URL) runs only those checks
//
// Prints one line per check, `ok NAME` or `FAIL NAME: reason`, and exits 1 if any failed.
package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"reflect"
	"sort"
	"strings"
	"sync"
	"time"
)

type check struct {
	name string
	fn   func() error
}

var checks = []check{
	{"connect_close", checkConnectClose},
	{"wrong_password", checkWrongPassword},
	{"declare_queue", checkDeclareQueue},
	{"declare_exchange", checkDeclareExchange},
	{"roundtrip_properties", checkRoundtripProperties},
	{"routing_direct", checkRoutingDirect},
	{"routing_fanout", checkRoutingFanout},
	{"routing_topic", checkRoutingTopic},
	{"routing_headers", checkRoutingHeaders},
	{"confirms", checkConfirms},
	{"mandatory_unroutable", checkMandatoryUnroutable},
	{"redelivery_after_close", checkRedeliveryAfterClose},
	{"basic_get", checkBasicGet},
	{"nack_reject_requeue", checkNackRejectRequeue},
	{"qos_prefetch", checkQos},
	{"passive_declare_missing_404", checkPassiveMissing404},
	{"redeclare_different_args_406", checkRedeclare406},
	{"exclusive_other_connection_405", checkExclusive405},
	{"consumer_cancel_notify", checkConsumerCancelNotify},
	{"large_message", checkLargeMessage},
	{"tx_commit_rollback", checkTx},
	{"heartbeat", checkHeartbeat},
	{"channel_exception_close_race", checkChannelExceptionCloseRace},
	{"delayed_exchange", checkDelayedExchange},
}

const (
	codeNoRoute            = 312
	codeAccessRefused      = 403
	codeNotFound           = 404
	codeResourceLocked     = 405
	codePreconditionFailed = 406
)

var (
	brokerURL string
	runID     string

	cleanupMu      sync.Mutex
	queuesCreated  []string
	exchangesMade  []string
	checkTimeout   = 8 * time.Second // the heartbeat check gets twice that
	deliveryWait   = 3 * time.Second
	noDeliveryWait = 250 * time.Millisecond
)

func main() {
	args := os.Args[1:]
	if len(args) > 0 && args[0] == "-list" {
		for _, c := range checks {
			fmt.Println(c.name)
		}
		return
	}
	brokerURL = os.Getenv("AMQP_URL")
	if len(args) > 0 && strings.Contains(args[0], "://") {
		brokerURL = args[0]
		args = args[1:]
	}
	if brokerURL == "" {
		brokerURL = "amqp://guest:guest@127.0.0.1:5672/"
	}
	only := map[string]bool{}
	for _, a := range args {
		only[a] = true
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	runID = "interop-" + libName + "-" + hex.EncodeToString(b[:])
	fmt.Printf("# %s against %s (names prefixed %s)\n", libName, redact(brokerURL), runID)

	// A broker that cannot be reached at all fails every check at once instead of
	// timing out in each one.
	if probe, err := dial(); err != nil {
		for _, c := range checks {
			if len(only) == 0 || only[c.name] {
				fmt.Printf("FAIL %s: not run, cannot connect: %s\n", c.name, oneLine(err.Error()))
			}
		}
		os.Exit(1)
	} else {
		probe.Close()
	}

	// The heartbeat check mostly waits, so it runs alongside the others.
	type result struct {
		name string
		err  error
	}
	var hb chan result
	failed := 0
	report := func(name string, err error) {
		if err != nil {
			failed++
			fmt.Printf("FAIL %s: %s\n", name, oneLine(err.Error()))
		} else {
			fmt.Printf("ok %s\n", name)
		}
	}
	selected := func(c check) bool { return len(only) == 0 || only[c.name] }
	for _, c := range checks {
		if c.name == "heartbeat" && selected(c) {
			hb = make(chan result, 1)
			go func(c check) { hb <- result{c.name, runWithTimeout(c.fn, 2*checkTimeout)} }(c)
		}
	}
	for _, c := range checks {
		if c.name != "heartbeat" && selected(c) {
			report(c.name, runWithTimeout(c.fn, checkTimeout))
		}
	}
	if hb != nil {
		r := <-hb
		report(r.name, r.err)
	}
	cleanup()
	if failed > 0 {
		fmt.Printf("# %d check(s) failed\n", failed)
		os.Exit(1)
	}
}

func runWithTimeout(fn func() error, d time.Duration) (err error) {
	done := make(chan error, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- fmt.Errorf("panic: %v", r)
			}
		}()
		done <- fn()
	}()
	select {
	case err = <-done:
		return err
	case <-time.After(d):
		return fmt.Errorf("timed out after %s", d)
	}
}

func oneLine(s string) string { return strings.ReplaceAll(s, "\n", " | ") }

func redact(u string) string {
	p, err := url.Parse(u)
	if err != nil || p.User == nil {
		return u
	}
	return p.Scheme + "://" + p.User.Username() + "@" + p.Host + p.Path
}

// ---------------------------------------------------------------------------------------
// helpers

func qname(s string) string {
	n := runID + "-" + s
	cleanupMu.Lock()
	queuesCreated = append(queuesCreated, n)
	cleanupMu.Unlock()
	return n
}

func xname(s string) string {
	n := runID + "-x-" + s
	cleanupMu.Lock()
	exchangesMade = append(exchangesMade, n)
	cleanupMu.Unlock()
	return n
}

func cleanup() {
	conn, err := dial()
	if err != nil {
		fmt.Printf("# cleanup: %v\n", err)
		return
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return
	}
	for _, q := range queuesCreated {
		if _, err := ch.QueueDelete(q, false, false, false); err != nil {
			// deleting a missing queue is fine in 0-9-1 (RabbitMQ replies delete-ok), but an
			// exclusive queue of a still-open connection gives 405 and closes the channel
			if ch, err = conn.Channel(); err != nil {
				return
			}
		}
	}
	for _, x := range exchangesMade {
		if err := ch.ExchangeDelete(x, false, false); err != nil {
			if ch, err = conn.Channel(); err != nil {
				return
			}
		}
	}
}

func config() Config {
	return Config{
		Properties: Table{"connection_name": runID, "product": "interop-" + libName},
		Dial:       defaultDial(5 * time.Second),
	}
}

func dial() (*Connection, error) {
	conn, err := dialConfig(brokerURL, config())
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	return conn, nil
}

// session opens a connection and one channel; close() closes both.
func session() (*Connection, *Channel, func(), error) {
	conn, err := dial()
	if err != nil {
		return nil, nil, nil, err
	}
	ch, err := conn.Channel()
	if err != nil {
		conn.Close()
		return nil, nil, nil, fmt.Errorf("channel.open: %w", err)
	}
	return conn, ch, func() { conn.Close() }, nil
}

func declareQueue(ch *Channel, name string, args Table) error {
	q, err := ch.QueueDeclare(name, false, false, false, false, args)
	if err != nil {
		return fmt.Errorf("queue.declare %s: %w", name, err)
	}
	if q.Name != name {
		return fmt.Errorf("queue.declare-ok name %q, want %q", q.Name, name)
	}
	return nil
}

func pub(ch *Channel, exchange, key, body string) error {
	return publish(ch, exchange, key, false, Publishing{Body: []byte(body)})
}

// confirmCh puts ch into confirm mode and returns a function that waits for the next n
// confirmations and fails unless they are all acks.
func confirmCh(ch *Channel) (func(n int) error, error) {
	if err := ch.Confirm(false); err != nil {
		return nil, fmt.Errorf("confirm.select: %w", err)
	}
	confirms := ch.NotifyPublish(make(chan Confirmation, 1000))
	return func(n int) error {
		for i := 0; i < n; i++ {
			select {
			case c, ok := <-confirms:
				if !ok {
					return fmt.Errorf("channel closed while waiting for confirm %d/%d", i+1, n)
				}
				if !c.Ack {
					return fmt.Errorf("publish %d was nacked", c.DeliveryTag)
				}
			case <-time.After(deliveryWait):
				return fmt.Errorf("got %d of %d confirms", i, n)
			}
		}
		return nil
	}, nil
}

func recv(c <-chan Delivery, what string) (Delivery, error) {
	select {
	case d, ok := <-c:
		if !ok {
			return d, fmt.Errorf("%s: delivery channel closed", what)
		}
		return d, nil
	case <-time.After(deliveryWait):
		return Delivery{}, fmt.Errorf("%s: no delivery within %s", what, deliveryWait)
	}
}

// recvN waits for n deliveries in turn.
func recvN(c <-chan Delivery, n int, what string) ([]Delivery, error) {
	var out []Delivery
	for i := 0; i < n; i++ {
		d, err := recv(c, fmt.Sprint(what, " #", i+1))
		if err != nil {
			return out, err
		}
		out = append(out, d)
	}
	return out, nil
}

func expectNothing(c <-chan Delivery, what string) error {
	select {
	case d, ok := <-c:
		if ok {
			return fmt.Errorf("%s: unexpected delivery %q", what, d.Body)
		}
		return nil
	case <-time.After(noDeliveryWait):
		return nil
	}
}

// drain basic.gets (auto-ack) until get-empty and returns the sorted bodies.
func drain(ch *Channel, queue string) ([]string, error) {
	var out []string
	for i := 0; i < 1000; i++ {
		d, ok, err := ch.Get(queue, true)
		if err != nil {
			return nil, fmt.Errorf("basic.get %s: %w", queue, err)
		}
		if !ok {
			sort.Strings(out)
			return out, nil
		}
		out = append(out, string(d.Body))
	}
	return nil, fmt.Errorf("queue %s never got empty", queue)
}

func messageCount(conn *Connection, queue string) (int, error) {
	ch, err := conn.Channel()
	if err != nil {
		return 0, err
	}
	defer ch.Close()
	q, err := ch.QueueDeclarePassive(queue, false, false, false, false, nil)
	if err != nil {
		return 0, fmt.Errorf("passive queue.declare %s: %w", queue, err)
	}
	return q.Messages, nil
}

func asAMQPError(err error) *AMQPError {
	var e *AMQPError
	if errors.As(err, &e) {
		return e
	}
	return nil
}

// expectCode fails unless err is an AMQP error with the given code whose text starts with
// the given reply-text prefix (e.g. "NOT_FOUND").
func expectCode(err error, code int, textPrefix string, what string) error {
	if err == nil {
		return fmt.Errorf("%s: succeeded, want error %d %s", what, code, textPrefix)
	}
	e := asAMQPError(err)
	if e == nil {
		return fmt.Errorf("%s: error %v (%T), want AMQP error %d", what, err, err, code)
	}
	if e.Code != code || !strings.HasPrefix(e.Reason, textPrefix) {
		return fmt.Errorf("%s: got %d %q, want %d %s", what, e.Code, e.Reason, code, textPrefix)
	}
	return nil
}

func sameStrings(got, want []string) bool {
	if len(got) == 0 && len(want) == 0 {
		return true
	}
	return reflect.DeepEqual(got, want)
}

// diffTable compares two field tables including the Go type of every value (which tells
// the AMQP type tag the library read), with time.Time compared by instant.
func diffTable(path string, got, want Table) []string {
	var out []string
	for k, wv := range want {
		gv, ok := got[k]
		if !ok {
			out = append(out, fmt.Sprintf("%s%s missing", path, k))
			continue
		}
		out = append(out, diffValue(path+k, gv, wv)...)
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			out = append(out, fmt.Sprintf("%s%s unexpected (%T %v)", path, k, got[k], got[k]))
		}
	}
	sort.Strings(out)
	return out
}

func diffValue(path string, gv, wv interface{}) []string {
	switch w := wv.(type) {
	case Table:
		g, ok := gv.(Table)
		if !ok {
			return []string{fmt.Sprintf("%s: got %T %v, want table", path, gv, gv)}
		}
		return diffTable(path+".", g, w)
	case []interface{}:
		g, ok := gv.([]interface{})
		if !ok || len(g) != len(w) {
			return []string{fmt.Sprintf("%s: got %T %v, want array %v", path, gv, gv, w)}
		}
		var out []string
		for i := range w {
			out = append(out, diffValue(fmt.Sprintf("%s[%d]", path, i), g[i], w[i])...)
		}
		return out
	case time.Time:
		g, ok := gv.(time.Time)
		if !ok || !g.Equal(w) {
			return []string{fmt.Sprintf("%s: got %T %v, want time %v", path, gv, gv, w)}
		}
		return nil
	}
	if reflect.TypeOf(gv) != reflect.TypeOf(wv) || !reflect.DeepEqual(gv, wv) {
		return []string{fmt.Sprintf("%s: got %T(%v), want %T(%v)", path, gv, gv, wv, wv)}
	}
	return nil
}

// ---------------------------------------------------------------------------------------
// checks

func checkConnectClose() error {
	conn, err := dial()
	if err != nil {
		return err
	}
	closed := conn.NotifyClose(make(chan *AMQPError, 1))
	if conn.Major != 0 || conn.Minor != 9 {
		conn.Close()
		return fmt.Errorf("connection.start version %d-%d, want 0-9", conn.Major, conn.Minor)
	}
	caps, _ := conn.Properties["capabilities"].(Table)
	for _, k := range []string{"publisher_confirms", "exchange_exchange_bindings", "basic.nack",
		"consumer_cancel_notify", "connection.blocked", "authentication_failure_close", "per_consumer_qos"} {
		if v, _ := caps[k].(bool); !v {
			conn.Close()
			return fmt.Errorf("server capability %s = %v, want true (capabilities %v)", k, caps[k], caps)
		}
	}
	if _, ok := conn.Properties["product"].(string); !ok {
		conn.Close()
		return fmt.Errorf("server properties lack a string product: %v", conn.Properties)
	}
	if conn.Config.FrameSize < 4096 || conn.Config.ChannelMax <= 0 {
		conn.Close()
		return fmt.Errorf("tuned frame_max %d channel_max %d", conn.Config.FrameSize, conn.Config.ChannelMax)
	}
	ch, err := conn.Channel()
	if err != nil {
		conn.Close()
		return fmt.Errorf("channel.open: %w", err)
	}
	if err := ch.Close(); err != nil {
		conn.Close()
		return fmt.Errorf("channel.close: %w", err)
	}
	if err := conn.Close(); err != nil {
		return fmt.Errorf("connection.close: %w", err)
	}
	select {
	case e, ok := <-closed:
		if ok && e != nil {
			return fmt.Errorf("clean close reported error %v", e)
		}
	case <-time.After(2 * time.Second):
		return fmt.Errorf("close notification not delivered")
	}
	if _, err := conn.Channel(); err != errClosed {
		return fmt.Errorf("channel.open after close: %v, want ErrClosed", err)
	}
	return nil
}

func checkWrongPassword() error {
	u, err := url.Parse(brokerURL)
	if err != nil {
		return err
	}
	user := "guest"
	if u.User != nil {
		user = u.User.Username()
	}
	u.User = url.UserPassword(user, "wrong-"+runID)
	start := time.Now()
	conn, err := dialConfig(u.String(), config())
	if err == nil {
		conn.Close()
		return fmt.Errorf("login with a wrong password succeeded")
	}
	// The Go clients do not announce authentication_failure_close, so RabbitMQ just drops
	// the socket and the library reports ErrCredentials (403 ACCESS_REFUSED).
	e := asAMQPError(err)
	if e == nil || e.Code != codeAccessRefused || !strings.Contains(err.Error(), "403") {
		return fmt.Errorf("got %v (%T), want AMQP error 403", err, err)
	}
	if time.Since(start) > 4*time.Second {
		return fmt.Errorf("refusal took %s", time.Since(start))
	}
	return nil
}

func checkDeclareQueue() error {
	conn, ch, done, err := session()
	if err != nil {
		return err
	}
	defer done()
	q := qname("declare")
	declared, err := ch.QueueDeclare(q, false, false, false, false, nil)
	if err != nil {
		return fmt.Errorf("queue.declare: %w", err)
	}
	if declared.Name != q || declared.Messages != 0 || declared.Consumers != 0 {
		return fmt.Errorf("declare-ok %+v", declared)
	}
	if _, err := ch.QueueDeclare(q, false, false, false, false, nil); err != nil {
		return fmt.Errorf("idempotent redeclare: %w", err)
	}
	anon, err := ch.QueueDeclare("", false, true, true, false, nil)
	if err != nil {
		return fmt.Errorf("server-named queue.declare: %w", err)
	}
	if !strings.HasPrefix(anon.Name, "amq.gen-") {
		return fmt.Errorf("server-named queue %q, want amq.gen-*", anon.Name)
	}
	pc, err := conn.Channel()
	if err != nil {
		return err
	}
	wait, err := confirmCh(pc)
	if err != nil {
		return err
	}
	for i := 0; i < 3; i++ {
		if err := pub(pc, "", q, fmt.Sprint("m", i)); err != nil {
			return err
		}
	}
	if err := wait(3); err != nil {
		return err
	}
	if n, err := messageCount(conn, q); err != nil || n != 3 {
		return fmt.Errorf("passive declare message_count %d (%v), want 3", n, err)
	}
	purged, err := ch.QueuePurge(q, false)
	if err != nil || purged != 3 {
		return fmt.Errorf("queue.purge-ok message_count %d (%v), want 3", purged, err)
	}
	if n, err := messageCount(conn, q); err != nil || n != 0 {
		return fmt.Errorf("after purge message_count %d (%v), want 0", n, err)
	}
	if _, err := ch.Consume(q, "", true, false, false, false, nil); err != nil {
		return fmt.Errorf("basic.consume: %w", err)
	}
	info, err := ch.QueueDeclarePassive(q, false, false, false, false, nil)
	if err != nil || info.Consumers != 1 {
		return fmt.Errorf("passive declare consumer_count %d (%v), want 1", info.Consumers, err)
	}
	ch2, err := conn.Channel()
	if err != nil {
		return err
	}
	if n, err := ch2.QueueDelete(q, false, false, false); err != nil || n != 0 {
		return fmt.Errorf("queue.delete-ok %d (%v), want 0", n, err)
	}
	_, err = messageCount(conn, q)
	return expectCode(err, codeNotFound, "NOT_FOUND", "passive declare after delete")
}

func checkDeclareExchange() error {
	conn, ch, done, err := session()
	if err != nil {
		return err
	}
	defer done()
	for _, kind := range []string{"direct", "fanout", "topic", "headers"} {
		x := xname("decl-" + kind)
		if err := ch.ExchangeDeclare(x, kind, false, false, false, false, nil); err != nil {
			return fmt.Errorf("exchange.declare %s: %w", kind, err)
		}
		if err := ch.ExchangeDeclare(x, kind, false, false, false, false, nil); err != nil {
			return fmt.Errorf("idempotent exchange.declare %s: %w", kind, err)
		}
		if err := ch.ExchangeDeclarePassive(x, kind, false, false, false, false, nil); err != nil {
			return fmt.Errorf("passive exchange.declare %s: %w", kind, err)
		}
		if err := ch.ExchangeDelete(x, false, false); err != nil {
			return fmt.Errorf("exchange.delete %s: %w", kind, err)
		}
	}
	for _, x := range []string{"amq.direct", "amq.fanout", "amq.topic", "amq.headers", "amq.match"} {
		kind := map[string]string{"amq.direct": "direct", "amq.fanout": "fanout", "amq.topic": "topic", "amq.headers": "headers", "amq.match": "headers"}[x]
		if err := ch.ExchangeDeclarePassive(x, kind, true, false, false, false, nil); err != nil {
			return fmt.Errorf("passive exchange.declare %s: %w", x, err)
		}
	}
	gone := runID + "-x-decl-direct"
	err = ch.ExchangeDeclarePassive(gone, "direct", false, false, false, false, nil)
	if e := expectCode(err, codeNotFound, "NOT_FOUND", "passive declare of deleted exchange"); e != nil {
		return e
	}
	// the channel is closed now; the connection still works
	ch2, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("channel.open after channel error: %w", err)
	}
	return ch2.ExchangeDeclarePassive("amq.direct", "direct", true, false, false, false, nil)
}

func checkRoundtripProperties() error {
	conn, ch, done, err := session()
	if err != nil {
		return err
	}
	defer done()
	q := qname("props")
	if err := declareQueue(ch, q, nil); err != nil {
		return err
	}
	headers := Table{
		"i32":    int32(-42), // 'I'
		"int":    7,          // Go int is written as 'I' too, read back as int32
		"i64":    int64(1) << 40,
		"i64neg": int64(-5000000000),
		"i16":    int16(-300),
		"str":    "héllo wörld",
		"bool_t": true,
		"bool_f": false,
		"f64":    3.25,
		"f32":    float32(1.5),
		"dec":    Decimal{Scale: 2, Value: 12345},
		"bin":    []byte{0, 1, 2, 0xfe, 0xff},
		"ts":     time.Unix(1700000000, 0),
		"void":   nil,
		"arr":    []interface{}{int32(1), "two", true, Table{"in": "array"}},
		"nested": Table{"inner": "x", "n": int32(7), "deeper": Table{"k": false, "l": int64(9)}},
	}
	for k, v := range libSpecificHeaders() {
		headers[k] = v
	}
	ts := time.Unix(1700000123, 0)
	msg := Publishing{
		ContentType:     "application/json",
		ContentEncoding: "utf-8",
		Headers:         headers,
		DeliveryMode:    2,
		Priority:        7,
		CorrelationId:   "corr-" + runID,
		ReplyTo:         "reply-" + runID,
		Expiration:      "600000",
		MessageId:       "msg-" + runID,
		Timestamp:       ts,
		Type:            "interop.test",
		UserId:          "guest",
		AppId:           "interop-app",
		Body:            []byte(`{"hello":"world"}`),
	}
	u, _ := url.Parse(brokerURL)
	if u != nil && u.User != nil {
		msg.UserId = u.User.Username() // RabbitMQ rejects a user-id other than the login
	}
	deliveries, err := ch.Consume(q, "ctag-props", false, false, false, false, nil)
	if err != nil {
		return fmt.Errorf("basic.consume: %w", err)
	}
	if err := publish(ch, "", q, false, msg); err != nil {
		return fmt.Errorf("basic.publish: %w", err)
	}
	d, err := recv(deliveries, "consume")
	if err != nil {
		return err
	}
	var problems []string
	cmp := func(field string, got, want interface{}) {
		if !reflect.DeepEqual(got, want) {
			problems = append(problems, fmt.Sprintf("%s=%v want %v", field, got, want))
		}
	}
	cmp("body", string(d.Body), string(msg.Body))
	cmp("content_type", d.ContentType, msg.ContentType)
	cmp("content_encoding", d.ContentEncoding, msg.ContentEncoding)
	cmp("delivery_mode", d.DeliveryMode, msg.DeliveryMode)
	cmp("priority", d.Priority, msg.Priority)
	cmp("correlation_id", d.CorrelationId, msg.CorrelationId)
	cmp("reply_to", d.ReplyTo, msg.ReplyTo)
	cmp("expiration", d.Expiration, msg.Expiration)
	cmp("message_id", d.MessageId, msg.MessageId)
	cmp("timestamp", d.Timestamp.Unix(), ts.Unix())
	cmp("type", d.Type, msg.Type)
	cmp("user_id", d.UserId, msg.UserId)
	cmp("app_id", d.AppId, msg.AppId)
	cmp("consumer_tag", d.ConsumerTag, "ctag-props")
	cmp("exchange", d.Exchange, "")
	cmp("routing_key", d.RoutingKey, q)
	cmp("redelivered", d.Redelivered, false)
	want := Table{}
	for k, v := range headers {
		want[k] = v
	}
	want["int"] = int32(7)
	problems = append(problems, diffTable("headers.", d.Headers, want)...)
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	if err := d.Ack(false); err != nil {
		return err
	}
	// a publish with no properties at all comes back with none
	if err := pub(ch, "", q, ""); err != nil {
		return err
	}
	d, err = recv(deliveries, "consume empty")
	if err != nil {
		return err
	}
	if len(d.Body) != 0 || d.ContentType != "" || d.Headers != nil && len(d.Headers) != 0 || d.DeliveryMode != 0 || !d.Timestamp.IsZero() {
		return fmt.Errorf("empty message came back as body %q content_type %q headers %v delivery_mode %d",
			d.Body, d.ContentType, d.Headers, d.DeliveryMode)
	}
	if err := d.Ack(false); err != nil {
		return err
	}
	if n, err := messageCount(conn, q); err != nil || n != 0 {
		return fmt.Errorf("after acks message_count %d (%v), want 0", n, err)
	}
	return nil
}

// routeCase declares an exchange and queues with bindings, publishes messages (the body
// names the message) with confirms, and compares what each queue holds.
type binding struct {
	queue string
	key   string
	args  Table
}
type outgoing struct {
	body    string
	key     string
	headers Table
}

func routeCase(kind string, queues []string, bindings []binding, msgs []outgoing, want map[string][]string) error {
	conn, ch, done, err := session()
	if err != nil {
		return err
	}
	defer done()
	x := xname("route-" + kind)
	if err := ch.ExchangeDeclare(x, kind, false, false, false, false, nil); err != nil {
		return fmt.Errorf("exchange.declare: %w", err)
	}
	full := map[string]string{}
	for _, q := range queues {
		full[q] = qname("route-" + kind + "-" + q)
		if err := declareQueue(ch, full[q], nil); err != nil {
			return err
		}
	}
	for _, b := range bindings {
		if err := ch.QueueBind(full[b.queue], b.key, x, false, b.args); err != nil {
			return fmt.Errorf("queue.bind %s %q: %w", b.queue, b.key, err)
		}
	}
	pc, err := conn.Channel()
	if err != nil {
		return err
	}
	wait, err := confirmCh(pc)
	if err != nil {
		return err
	}
	for _, m := range msgs {
		if err := publish(pc, x, m.key, false, Publishing{Headers: m.headers, Body: []byte(m.body)}); err != nil {
			return err
		}
	}
	if err := wait(len(msgs)); err != nil {
		return err
	}
	var problems []string
	for _, q := range queues {
		got, err := drain(ch, full[q])
		if err != nil {
			return err
		}
		w := append([]string(nil), want[q]...)
		sort.Strings(w)
		if !sameStrings(got, w) {
			problems = append(problems, fmt.Sprintf("queue %s got %v want %v", q, got, w))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	if err := ch.ExchangeDelete(x, false, false); err != nil {
		return fmt.Errorf("exchange.delete: %w", err)
	}
	return nil
}

func checkRoutingDirect() error {
	return routeCase("direct", []string{"q1", "q2", "q3"},
		[]binding{{"q1", "k1", nil}, {"q2", "k2", nil}, {"q3", "k1", nil}, {"q3", "k3", nil}},
		[]outgoing{{"m1", "k1", nil}, {"m2", "k2", nil}, {"m3", "k3", nil}, {"m4", "k4", nil}, {"m5", "K1", nil}},
		map[string][]string{"q1": {"m1"}, "q2": {"m2"}, "q3": {"m1", "m3"}})
}

func checkRoutingFanout() error {
	return routeCase("fanout", []string{"q1", "q2", "q3"},
		[]binding{{"q1", "", nil}, {"q2", "ignored", nil}},
		[]outgoing{{"m1", "", nil}, {"m2", "anything", nil}},
		map[string][]string{"q1": {"m1", "m2"}, "q2": {"m1", "m2"}})
}

func checkRoutingTopic() error {
	return routeCase("topic", []string{"star", "hashTail", "hashHead", "mid", "all", "emptyKey"},
		[]binding{
			{"star", "a.*.c", nil},
			{"hashTail", "a.#", nil},
			{"hashHead", "#.z", nil},
			{"mid", "*.b.#", nil},
			{"emptyKey", "", nil},
			{"all", "#", nil},
		},
		[]outgoing{
			{"a.b.c", "a.b.c", nil}, {"a.x.c", "a.x.c", nil}, {"a", "a", nil},
			{"a.b.c.d", "a.b.c.d", nil}, {"x.y.z", "x.y.z", nil}, {"z", "z", nil},
			{"b", "b", nil}, {"x.b", "x.b", nil}, {"a.c", "a.c", nil}, {"(empty)", "", nil},
		},
		map[string][]string{
			"star":     {"a.b.c", "a.x.c"},
			"hashTail": {"a", "a.b.c", "a.x.c", "a.b.c.d", "a.c"},
			"hashHead": {"x.y.z", "z"},
			"mid":      {"a.b.c", "a.b.c.d", "x.b"},
			"emptyKey": {"(empty)"},
			"all":      {"(empty)", "a.b.c", "a.x.c", "a", "a.b.c.d", "x.y.z", "z", "b", "x.b", "a.c"},
		})
}

func checkRoutingHeaders() error {
	return routeCase("headers", []string{"all", "any", "num"},
		[]binding{
			{"all", "", Table{"x-match": "all", "format": "pdf", "type": "report"}},
			{"any", "", Table{"x-match": "any", "format": "pdf", "type": "log"}},
			{"num", "", Table{"x-match": "all", "n": int32(5)}},
		},
		[]outgoing{
			{"pdf-report", "", Table{"format": "pdf", "type": "report"}},
			{"pdf-log", "", Table{"format": "pdf", "type": "log"}},
			{"zip-log", "", Table{"format": "zip", "type": "log"}},
			{"zip", "", Table{"format": "zip"}},
			{"pdf-report-extra", "rk-ignored", Table{"format": "pdf", "type": "report", "extra": int32(1)}},
			{"none", "", nil},
			{"n5", "", Table{"n": int32(5)}},
			{"n6", "", Table{"n": int32(6)}},
			{"n5str", "", Table{"n": "5"}},
			// RabbitMQ compares numbers by value across int types (pika sends ints as 'l')
			{"n5long", "", Table{"n": int64(5)}},
			{"n5short", "", Table{"n": int16(5)}},
		},
		map[string][]string{
			"all": {"pdf-report", "pdf-report-extra"},
			"any": {"pdf-report", "pdf-log", "zip-log", "pdf-report-extra"},
			"num": {"n5", "n5long", "n5short"},
		})
}

func checkConfirms() error {
	conn, ch, done, err := session()
	if err != nil {
		return err
	}
	defer done()
	q := qname("confirms")
	if err := declareQueue(ch, q, nil); err != nil {
		return err
	}
	if err := ch.Confirm(false); err != nil {
		return fmt.Errorf("confirm.select: %w", err)
	}
	const n = 200
	confirms := ch.NotifyPublish(make(chan Confirmation, n))
	for i := 0; i < n; i++ {
		if err := pub(ch, "", q, fmt.Sprint(i)); err != nil {
			return err
		}
	}
	// The broker may ack several publishes with one multiple=true basic.ack; the library
	// expands those into one confirmation per publish, in order.
	for i := 1; i <= n; i++ {
		select {
		case c := <-confirms:
			if !c.Ack || c.DeliveryTag != uint64(i) {
				return fmt.Errorf("confirmation %d: tag %d ack %v", i, c.DeliveryTag, c.Ack)
			}
		case <-time.After(deliveryWait):
			return fmt.Errorf("only %d of %d confirms arrived", i-1, n)
		}
	}
	select {
	case c := <-confirms:
		return fmt.Errorf("extra confirmation %+v", c)
	case <-time.After(100 * time.Millisecond):
	}
	if cnt, err := messageCount(conn, q); err != nil || cnt != n {
		return fmt.Errorf("queue holds %d (%v), want %d", cnt, err, n)
	}
	return nil
}

func checkMandatoryUnroutable() error {
	conn, ch, done, err := session()
	if err != nil {
		return err
	}
	defer done()
	x := xname("mandatory")
	if err := ch.ExchangeDeclare(x, "direct", false, false, false, false, nil); err != nil {
		return err
	}
	q := qname("mandatory")
	if err := declareQueue(ch, q, nil); err != nil {
		return err
	}
	if err := ch.QueueBind(q, "routed", x, false, nil); err != nil {
		return err
	}
	if err := ch.Confirm(false); err != nil {
		return err
	}
	returns := ch.NotifyReturn(make(chan Return, 10))
	confirms := ch.NotifyPublish(make(chan Confirmation, 10))
	try := func(exchange, key, body string) (*Return, error) {
		err := publish(ch, exchange, key, true, Publishing{ContentType: "text/plain", MessageId: body, Body: []byte(body)})
		if err != nil {
			return nil, err
		}
		select {
		case c := <-confirms:
			if !c.Ack {
				return nil, fmt.Errorf("%s: nacked", body)
			}
		case <-time.After(deliveryWait):
			return nil, fmt.Errorf("%s: no confirm", body)
		}
		// RabbitMQ sends basic.return before the basic.ack of the same publish, and the
		// library hands both out in wire order.
		select {
		case r := <-returns:
			return &r, nil
		default:
			return nil, nil
		}
	}
	var problems []string
	for _, c := range []struct{ exchange, key, body string }{
		{x, "nowhere", "unroutable-exchange"},
		{"", runID + "-no-such-queue", "unroutable-default"},
	} {
		r, err := try(c.exchange, c.key, c.body)
		if err != nil {
			return err
		}
		if r == nil {
			problems = append(problems, fmt.Sprintf("%s: no basic.return before the ack", c.body))
			continue
		}
		if r.ReplyCode != codeNoRoute || r.ReplyText != "NO_ROUTE" || r.Exchange != c.exchange ||
			r.RoutingKey != c.key || string(r.Body) != c.body || r.ContentType != "text/plain" || r.MessageId != c.body {
			problems = append(problems, fmt.Sprintf("%s: return %d %q exchange %q key %q body %q content_type %q message_id %q",
				c.body, r.ReplyCode, r.ReplyText, r.Exchange, r.RoutingKey, r.Body, r.ContentType, r.MessageId))
		}
	}
	r, err := try(x, "routed", "routable")
	if err != nil {
		return err
	}
	if r != nil {
		problems = append(problems, fmt.Sprintf("routable mandatory message was returned: %d %s", r.ReplyCode, r.ReplyText))
	}
	if n, err := messageCount(conn, q); err != nil || n != 1 {
		problems = append(problems, fmt.Sprintf("bound queue holds %d (%v), want 1", n, err))
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return nil
}

func checkRedeliveryAfterClose() error {
	connA, chA, doneA, err := session()
	if err != nil {
		return err
	}
	defer doneA()
	q := qname("redeliver")
	if err := declareQueue(chA, q, nil); err != nil {
		return err
	}
	for _, b := range []string{"first", "second"} {
		if err := pub(chA, "", q, b); err != nil {
			return err
		}
	}
	if err := chA.Qos(1, 0, false); err != nil {
		return fmt.Errorf("basic.qos: %w", err)
	}
	da, err := chA.Consume(q, "", false, false, false, false, nil)
	if err != nil {
		return err
	}
	d, err := recv(da, "consumer A")
	if err != nil {
		return err
	}
	if string(d.Body) != "first" || d.Redelivered {
		return fmt.Errorf("consumer A got %q redelivered=%v, want first/false", d.Body, d.Redelivered)
	}
	if err := expectNothing(da, "consumer A with prefetch 1 and one unacked"); err != nil {
		return err
	}
	if err := connA.Close(); err != nil {
		return fmt.Errorf("closing A: %w", err)
	}
	_, chB, doneB, err := session()
	if err != nil {
		return err
	}
	defer doneB()
	if err := chB.Qos(10, 0, false); err != nil {
		return err
	}
	db, err := chB.Consume(q, "", false, false, false, false, nil)
	if err != nil {
		return err
	}
	var got []string
	for i := 0; i < 2; i++ {
		d, err := recv(db, "consumer B")
		if err != nil {
			return fmt.Errorf("%v (got %v)", err, got)
		}
		got = append(got, fmt.Sprintf("%s/%v", d.Body, d.Redelivered))
		if err := d.Ack(false); err != nil {
			return err
		}
	}
	if strings.Join(got, ",") != "first/true,second/false" {
		return fmt.Errorf("consumer B got %v, want [first/true second/false]", got)
	}
	return expectNothing(db, "consumer B after both")
}

func checkBasicGet() error {
	_, ch, done, err := session()
	if err != nil {
		return err
	}
	defer done()
	q := qname("get")
	if err := declareQueue(ch, q, nil); err != nil {
		return err
	}
	if _, ok, err := ch.Get(q, false); err != nil || ok {
		return fmt.Errorf("get on empty queue: ok=%v err=%v, want get-empty", ok, err)
	}
	for _, b := range []string{"g1", "g2"} {
		if err := publish(ch, "", q, false, Publishing{ContentType: "text/plain", Body: []byte(b)}); err != nil {
			return err
		}
	}
	d, ok, err := ch.Get(q, false)
	if err != nil || !ok {
		return fmt.Errorf("get 1: ok=%v err=%v", ok, err)
	}
	if string(d.Body) != "g1" || d.MessageCount != 1 || d.Redelivered || d.RoutingKey != q || d.ContentType != "text/plain" {
		return fmt.Errorf("get-ok 1: body %q message_count %d redelivered %v routing_key %q content_type %q",
			d.Body, d.MessageCount, d.Redelivered, d.RoutingKey, d.ContentType)
	}
	if err := d.Ack(false); err != nil {
		return err
	}
	d, ok, err = ch.Get(q, true)
	if err != nil || !ok || string(d.Body) != "g2" || d.MessageCount != 0 {
		return fmt.Errorf("get 2: ok=%v err=%v body %q message_count %d", ok, err, d.Body, d.MessageCount)
	}
	if _, ok, err := ch.Get(q, false); err != nil || ok {
		return fmt.Errorf("get after draining: ok=%v err=%v, want get-empty", ok, err)
	}
	return nil
}

func checkNackRejectRequeue() error {
	conn, ch, done, err := session()
	if err != nil {
		return err
	}
	defer done()
	q := qname("nack")
	if err := declareQueue(ch, q, nil); err != nil {
		return err
	}
	if err := pub(ch, "", q, "n1"); err != nil {
		return err
	}
	get := func(step string) (Delivery, error) {
		d, ok, err := ch.Get(q, false)
		if err != nil || !ok {
			return d, fmt.Errorf("%s: get ok=%v err=%v", step, ok, err)
		}
		return d, nil
	}
	d, err := get("first get")
	if err != nil {
		return err
	}
	if d.Redelivered {
		return fmt.Errorf("fresh message marked redelivered")
	}
	if err := d.Nack(false, true); err != nil {
		return err
	}
	d, err = get("after nack requeue")
	if err != nil {
		return err
	}
	if string(d.Body) != "n1" || !d.Redelivered {
		return fmt.Errorf("after nack requeue got %q redelivered=%v", d.Body, d.Redelivered)
	}
	if err := d.Reject(true); err != nil {
		return err
	}
	d, err = get("after reject requeue")
	if err != nil {
		return err
	}
	if string(d.Body) != "n1" || !d.Redelivered {
		return fmt.Errorf("after reject requeue got %q redelivered=%v", d.Body, d.Redelivered)
	}
	if err := d.Reject(false); err != nil {
		return err
	}
	if _, ok, err := ch.Get(q, false); err != nil || ok {
		return fmt.Errorf("after reject without requeue: ok=%v err=%v, want empty", ok, err)
	}
	// nack multiple=true covers every unacked delivery up to the tag
	for _, b := range []string{"a", "b", "c"} {
		if err := pub(ch, "", q, b); err != nil {
			return err
		}
	}
	var last Delivery
	for i := 0; i < 3; i++ {
		if last, err = get(fmt.Sprint("multi get ", i)); err != nil {
			return err
		}
	}
	if n, err := messageCount(conn, q); err != nil || n != 0 {
		return fmt.Errorf("with 3 unacked, message_count %d (%v), want 0", n, err)
	}
	if err := ch.Nack(last.DeliveryTag, true, true); err != nil {
		return err
	}
	got, err := drain(ch, q)
	if err != nil {
		return err
	}
	if strings.Join(got, ",") != "a,b,c" {
		return fmt.Errorf("after nack multiple requeue queue held %v, want [a b c]", got)
	}
	return nil
}

func checkQos() error {
	_, ch, done, err := session()
	if err != nil {
		return err
	}
	defer done()
	q := qname("qos")
	if err := declareQueue(ch, q, nil); err != nil {
		return err
	}
	for i := 1; i <= 5; i++ {
		if err := pub(ch, "", q, fmt.Sprint("q", i)); err != nil {
			return err
		}
	}
	if err := ch.Qos(2, 0, false); err != nil {
		return fmt.Errorf("basic.qos: %w", err)
	}
	ds, err := ch.Consume(q, "", false, false, false, false, nil)
	if err != nil {
		return err
	}
	held, err := recvN(ds, 2, "delivery")
	if err != nil {
		return err
	}
	if err := expectNothing(ds, "third delivery with prefetch 2"); err != nil {
		return err
	}
	if err := held[0].Ack(false); err != nil {
		return err
	}
	d, err := recv(ds, "delivery after one ack")
	if err != nil {
		return err
	}
	if string(d.Body) != "q3" {
		return fmt.Errorf("after ack got %q, want q3", d.Body)
	}
	if err := expectNothing(ds, "fourth delivery with 2 unacked"); err != nil {
		return err
	}
	// ack both outstanding with multiple=true: two more may flow
	if err := d.Ack(true); err != nil {
		return err
	}
	rest, err := recvN(ds, 2, "after multiple ack")
	if err != nil {
		return err
	}
	var bodies []string
	for _, d := range rest {
		bodies = append(bodies, string(d.Body))
	}
	if strings.Join(bodies, ",") != "q4,q5" {
		return fmt.Errorf("after multiple ack got %v, want [q4 q5]", bodies)
	}
	return nil
}

func checkPassiveMissing404() error {
	conn, ch, done, err := session()
	if err != nil {
		return err
	}
	defer done()
	chClosed := ch.NotifyClose(make(chan *AMQPError, 1))
	connClosed := conn.NotifyClose(make(chan *AMQPError, 1))
	missing := runID + "-does-not-exist"
	_, err = ch.QueueDeclarePassive(missing, false, false, false, false, nil)
	if e := expectCode(err, codeNotFound, "NOT_FOUND", "passive declare of missing queue"); e != nil {
		return e
	}
	select {
	case e := <-chClosed:
		if e == nil || e.Code != codeNotFound {
			return fmt.Errorf("channel close notification %v, want 404", e)
		}
	case <-time.After(2 * time.Second):
		return fmt.Errorf("channel not reported closed")
	}
	if _, err := ch.QueueDeclare(qname("after-404"), false, false, false, false, nil); err == nil {
		return fmt.Errorf("the closed channel still accepted queue.declare")
	}
	select {
	case e := <-connClosed:
		return fmt.Errorf("connection closed after a channel error: %v", e)
	default:
	}
	ch2, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("new channel on the same connection: %w", err)
	}
	if err := declareQueue(ch2, qname("after-404b"), nil); err != nil {
		return fmt.Errorf("new channel unusable: %w", err)
	}
	return nil
}

// A channel that fails (publish to a missing exchange) and is closed by the client at once:
// the two closes cross. The broker must not take the connection down for the late close-ok,
// and the connection's other channel lives on (the client libraries' own
// TestChannelExceptionWithCloseIssue43, a few times over).
func checkChannelExceptionCloseRace() error {
	for i := 0; i < 5; i++ {
		conn, c1, done, err := session()
		if err != nil {
			return err
		}
		connClosed := conn.NotifyClose(make(chan *AMQPError, 1))
		c1.NotifyClose(make(chan *AMQPError, 1))
		c2, err := conn.Channel()
		if err != nil {
			done()
			return fmt.Errorf("second channel: %w", err)
		}
		_ = pub(c1, runID+"-no-such-exchange", "k", "x")
		c1.Close() // an error here is the 404 racing the close
		err = declareQueue(c2, qname(fmt.Sprintf("after-close-race-%d", i)), nil)
		time.Sleep(50 * time.Millisecond)
		select {
		case e := <-connClosed:
			err = fmt.Errorf("round %d: connection closed: %v", i, e)
		default:
		}
		done()
		if err != nil {
			return err
		}
	}
	return nil
}

// x-delayed-message: x-delay as int32 ('I'), int64 ('l') and a numeric string; delivered in due
// order, on time, with x-delay negated (an int32 as Go decodes it).
func checkDelayedExchange() error {
	_, ch, done, err := session()
	if err != nil {
		return err
	}
	defer done()
	x := xname("delayed")
	if err := ch.ExchangeDeclare(x, "x-delayed-message", false, false, false, false, Table{"x-delayed-type": "direct"}); err != nil {
		return err
	}
	q := qname("delayed")
	if err := declareQueue(ch, q, nil); err != nil {
		return err
	}
	if err := ch.QueueBind(q, "k", x, false, nil); err != nil {
		return err
	}
	deliveries, err := ch.Consume(q, "", true, false, false, false, nil)
	if err != nil {
		return err
	}
	t0 := time.Now()
	for _, m := range []struct {
		body  string
		delay interface{}
	}{{"600", int32(600)}, {"200", int64(200)}, {"400", "400"}} {
		if err := publish(ch, x, "k", false, Publishing{Headers: Table{"x-delay": m.delay}, Body: []byte(m.body)}); err != nil {
			return err
		}
	}
	got, err := recvN(deliveries, 3, "delayed message")
	if err != nil {
		return err
	}
	for i, want := range []int32{200, 400, 600} {
		d := got[i]
		if string(d.Body) != fmt.Sprint(want) {
			return fmt.Errorf("delivery %d is %q, want %d (due order)", i+1, d.Body, want)
		}
		if h, ok := d.Headers["x-delay"].(int32); !ok || h != -want {
			return fmt.Errorf("x-delay of %q is %#v, want int32(%d)", d.Body, d.Headers["x-delay"], -want)
		}
	}
	if el := time.Since(t0); el < 595*time.Millisecond || el > 900*time.Millisecond {
		return fmt.Errorf("the last (600 ms) arrived after %v", el)
	}
	return nil
}

func checkRedeclare406() error {
	conn, ch, done, err := session()
	if err != nil {
		return err
	}
	defer done()
	q := qname("redeclare")
	if err := declareQueue(ch, q, Table{"x-max-length": int32(10)}); err != nil {
		return err
	}
	_, err = ch.QueueDeclare(q, false, false, false, false, Table{"x-max-length": int32(20)})
	if e := expectCode(err, codePreconditionFailed, "PRECONDITION_FAILED", "redeclare with other x-max-length"); e != nil {
		return e
	}
	ch2, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("channel.open after 406: %w", err)
	}
	_, err = ch2.QueueDeclare(q, true, false, false, false, Table{"x-max-length": int32(10)})
	if e := expectCode(err, codePreconditionFailed, "PRECONDITION_FAILED", "redeclare as durable"); e != nil {
		return e
	}
	ch3, err := conn.Channel()
	if err != nil {
		return err
	}
	if err := declareQueue(ch3, q, Table{"x-max-length": int32(10)}); err != nil {
		return fmt.Errorf("equivalent redeclare: %w", err)
	}
	x := xname("redeclare")
	if err := ch3.ExchangeDeclare(x, "direct", false, false, false, false, nil); err != nil {
		return err
	}
	err = ch3.ExchangeDeclare(x, "fanout", false, false, false, false, nil)
	return expectCode(err, codePreconditionFailed, "PRECONDITION_FAILED", "redeclare exchange with another type")
}

func checkExclusive405() error {
	_, ch1, done1, err := session()
	if err != nil {
		return err
	}
	defer done1()
	q := qname("exclusive")
	if _, err := ch1.QueueDeclare(q, false, false, true, false, nil); err != nil {
		return fmt.Errorf("exclusive queue.declare: %w", err)
	}
	if err := pub(ch1, "", q, "mine"); err != nil {
		return err
	}
	conn2, ch2, done2, err := session()
	if err != nil {
		return err
	}
	defer done2()
	_, err = ch2.QueueDeclare(q, false, false, true, false, nil)
	if e := expectCode(err, codeResourceLocked, "RESOURCE_LOCKED", "declare from another connection"); e != nil {
		return e
	}
	ch2, err = conn2.Channel()
	if err != nil {
		return err
	}
	_, err = ch2.Consume(q, "", true, false, false, false, nil)
	if e := expectCode(err, codeResourceLocked, "RESOURCE_LOCKED", "consume from another connection"); e != nil {
		return e
	}
	// the owner can still use it
	if d, ok, err := ch1.Get(q, true); err != nil || !ok || string(d.Body) != "mine" {
		return fmt.Errorf("owner basic.get: ok=%v err=%v body %q", ok, err, d.Body)
	}
	// and it disappears with its connection
	done1()
	deadline := time.Now().Add(3 * time.Second)
	for {
		ch3, err := conn2.Channel()
		if err != nil {
			return err
		}
		_, err = ch3.QueueDeclarePassive(q, false, false, false, false, nil)
		if e := asAMQPError(err); e != nil && e.Code == codeNotFound {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("exclusive queue still there after its connection closed (last: %v)", err)
		}
		ch3.Close()
		time.Sleep(50 * time.Millisecond)
	}
}

func checkConsumerCancelNotify() error {
	conn, ch, done, err := session()
	if err != nil {
		return err
	}
	defer done()
	q := qname("cancel")
	if err := declareQueue(ch, q, nil); err != nil {
		return err
	}
	cancels := ch.NotifyCancel(make(chan string, 1))
	ds, err := ch.Consume(q, "ctag-cancel", false, false, false, false, nil)
	if err != nil {
		return err
	}
	other, err := conn.Channel()
	if err != nil {
		return err
	}
	if _, err := other.QueueDelete(q, false, false, false); err != nil {
		return fmt.Errorf("queue.delete: %w", err)
	}
	select {
	case tag := <-cancels:
		if tag != "ctag-cancel" {
			return fmt.Errorf("basic.cancel for %q, want ctag-cancel", tag)
		}
	case <-time.After(deliveryWait):
		return fmt.Errorf("no basic.cancel from the broker after the queue was deleted")
	}
	select {
	case _, ok := <-ds:
		if ok {
			return fmt.Errorf("delivery after cancel")
		}
	case <-time.After(time.Second):
		return fmt.Errorf("delivery channel not closed after cancel")
	}
	// the channel stays usable
	return declareQueue(ch, qname("cancel-after"), nil)
}

func checkLargeMessage() error {
	_, ch, done, err := session()
	if err != nil {
		return err
	}
	defer done()
	q := qname("large")
	if err := declareQueue(ch, q, nil); err != nil {
		return err
	}
	body := make([]byte, 512*1024+7)
	if _, err := rand.Read(body); err != nil {
		return err
	}
	if err := publish(ch, "", q, false, Publishing{ContentType: "application/octet-stream", Body: body}); err != nil {
		return err
	}
	ds, err := ch.Consume(q, "", true, false, false, false, nil)
	if err != nil {
		return err
	}
	d, err := recv(ds, "large message")
	if err != nil {
		return err
	}
	if !bytes.Equal(d.Body, body) {
		return fmt.Errorf("body differs: got %d bytes, want %d", len(d.Body), len(body))
	}
	return nil
}

func checkTx() error {
	conn, ch, done, err := session()
	if err != nil {
		return err
	}
	defer done()
	q := qname("tx")
	if err := declareQueue(ch, q, nil); err != nil {
		return err
	}
	if err := ch.Tx(); err != nil {
		return fmt.Errorf("tx.select: %w", err)
	}
	count := func(want int, when string) error {
		if n, err := messageCount(conn, q); err != nil || n != want {
			return fmt.Errorf("%s: message_count %d (%v), want %d", when, n, err, want)
		}
		return nil
	}
	if err := pub(ch, "", q, "t1"); err != nil {
		return err
	}
	if err := count(0, "before commit"); err != nil {
		return err
	}
	if err := ch.TxCommit(); err != nil {
		return fmt.Errorf("tx.commit: %w", err)
	}
	if err := count(1, "after commit"); err != nil {
		return err
	}
	if err := pub(ch, "", q, "t2"); err != nil {
		return err
	}
	if err := ch.TxRollback(); err != nil {
		return fmt.Errorf("tx.rollback: %w", err)
	}
	if err := count(1, "after rollback"); err != nil {
		return err
	}
	// an ack is transactional too
	d, ok, err := ch.Get(q, false)
	if err != nil || !ok || string(d.Body) != "t1" {
		return fmt.Errorf("get in tx: ok=%v err=%v body %q", ok, err, d.Body)
	}
	if err := d.Ack(false); err != nil {
		return err
	}
	if err := ch.TxCommit(); err != nil {
		return fmt.Errorf("tx.commit of ack: %w", err)
	}
	if err := ch.Close(); err != nil {
		return err
	}
	return count(0, "after committed ack and channel close")
}

func checkHeartbeat() error {
	cfg := config()
	cfg.Heartbeat = 2 * time.Second
	conn, err := dialConfig(brokerURL, cfg)
	if err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	defer conn.Close()
	if conn.Config.Heartbeat != 2*time.Second {
		return fmt.Errorf("negotiated heartbeat %s, want 2s (the lower of client and server)", conn.Config.Heartbeat)
	}
	closed := conn.NotifyClose(make(chan *AMQPError, 1))
	// Idle for longer than both sides' timeouts: amqp091-go drops the connection after
	// 3 s without a frame from the server, streadway after 6 s; the server should drop
	// a client that did not send heartbeats after about 4 s.
	select {
	case e := <-closed:
		return fmt.Errorf("connection closed while idle: %v", e)
	case <-time.After(7 * time.Second):
	}
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("channel.open after idling: %w", err)
	}
	return declareQueue(ch, qname("heartbeat"), nil)
}
