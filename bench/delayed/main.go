// delayed: load generator for Warren's delayed-message exchange (x-delayed-message), on
// amqp091-go. Modes:
//
//	publish  N messages (or for --duration) with x-delay uniform in [--min-delay, --max-delay] ms,
//	         persistent, with publisher confirms (--confirm messages in flight), into a delayed
//	         exchange; or, with --plain-queue Q, the same messages (x-delay header included) into a
//	         plain durable queue through the default exchange, for the baseline.
//	consume  from a durable queue bound to the delayed exchange: counts arrivals, checks that every
//	         id 0..N-1 arrives exactly once, and computes lateness percentiles.
//	rss      samples a process's VmRSS (and CPU ticks) every --interval into a file.
//	ready    waits until the broker accepts AMQP connections, prints how long since --since.
//
// Each body carries the message's due time (int64 Unix ns, little endian: publish time + x-delay)
// in bytes 0-7 and its id (uint64, little endian) in bytes 8-15. Lateness = arrival time at the
// consumer - due time (one host, one clock).
//
// Build (GOPATH mode, Debian's golang-github-rabbitmq-amqp091-go-dev):
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o /tmp/delayed-bench .
package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

const bodyHeader = 16 // due time + id

type common struct {
	uri        string
	exchange   string
	kind       string
	key        string
	durable    bool
	noCoalesce *bool
	label      string
}

func (c *common) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.uri, "uri", "amqp://guest:guest@127.0.0.1:5701/", "broker URI")
	fs.StringVar(&c.exchange, "exchange", "delayed-bench", "delayed exchange (x-delayed-message)")
	fs.StringVar(&c.kind, "delayed-type", "direct", "x-delayed-type of the exchange")
	fs.StringVar(&c.key, "key", "k", "routing key (and binding key)")
	fs.BoolVar(&c.durable, "durable", true, "durable exchange and queues")
	c.noCoalesce = fs.Bool("no-coalesce", false, "write every frame separately, as amqp091-go 1.5 does")
	fs.StringVar(&c.label, "label", "", "free text copied into the JSON summary")
}

func (c *common) dial(name string) (*amqp.Connection, error) {
	cfg := amqp.Config{
		Heartbeat:  30 * time.Second,
		Locale:     "en_US",
		Properties: amqp.Table{"product": "delayed-bench (amqp091-go)", "connection_name": name},
	}
	if !*c.noCoalesce {
		cfg.Dial = dialCoalescing
	}
	return amqp.DialConfig(c.uri, cfg)
}

func (c *common) declareExchange(ch *amqp.Channel) error {
	return ch.ExchangeDeclare(c.exchange, "x-delayed-message", c.durable, false, false, false,
		amqp.Table{"x-delayed-type": c.kind})
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: delayed publish|consume|rss|ready [flags]   (delayed MODE -h for the flags)")
	os.Exit(1)
}

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	debug.SetGCPercent(400)
	var rc int
	switch os.Args[1] {
	case "publish":
		rc = publish(os.Args[2:])
	case "consume":
		rc = consume(os.Args[2:])
	case "rss":
		rc = rss(os.Args[2:])
	case "ready":
		rc = ready(os.Args[2:])
	default:
		usage()
	}
	os.Exit(rc)
}

func secs(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }

func emit(v interface{}) {
	out, _ := json.Marshal(v)
	fmt.Println(string(out))
}

// cpuTime is this process's user+sys time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// ---------------------------------------------------------------- percentiles

// samples holds values in µs (int32: up to ~35 minutes).
type samples []int32

func (s samples) percentiles() map[string]float64 {
	if len(s) == 0 {
		return nil
	}
	c := make([]int32, len(s))
	copy(c, s)
	sort.Slice(c, func(i, j int) bool { return c[i] < c[j] })
	q := func(p float64) float64 {
		i := int(p*float64(len(c))+0.5) - 1
		if i < 0 {
			i = 0
		}
		if i >= len(c) {
			i = len(c) - 1
		}
		return float64(c[i]) / 1000
	}
	return map[string]float64{"min": float64(c[0]) / 1000, "p50": q(0.5), "p95": q(0.95), "p99": q(0.99),
		"p999": q(0.999), "max": float64(c[len(c)-1]) / 1000}
}

func clampUs(ns int64) int32 {
	us := ns / 1000
	if us > 1<<31-1 {
		return 1<<31 - 1
	}
	if us < -(1 << 31) {
		return -(1 << 31)
	}
	return int32(us)
}

// ---------------------------------------------------------------- publish

type pubSummary struct {
	Mode           string             `json:"mode"`
	Label          string             `json:"label,omitempty"`
	Target         string             `json:"target"` // delayed or plain
	Exchange       string             `json:"exchange,omitempty"`
	Queue          string             `json:"queue,omitempty"`
	Size           int                `json:"size"`
	Confirm        int                `json:"confirm"`
	Persistent     bool               `json:"persistent"`
	MinDelayMs     int                `json:"min_delay_ms"`
	MaxDelayMs     int                `json:"max_delay_ms"`
	Published      int64              `json:"published"`
	Confirmed      int64              `json:"confirmed"`
	Nacked         int64              `json:"nacked"`
	WindowS        float64            `json:"window_s"`
	ConfirmRate    float64            `json:"confirm_rate"`
	PublishRate    float64            `json:"publish_rate"`
	ElapsedS       float64            `json:"elapsed_s"` // first publish to last confirm
	FirstPubUnixMs int64              `json:"first_publish_unix_ms"`
	LastPubUnixMs  int64              `json:"last_publish_unix_ms"`
	LastConfUnixMs int64              `json:"last_confirm_unix_ms"`
	MinDueUnixMs   int64              `json:"min_due_unix_ms"`
	MaxDueUnixMs   int64              `json:"max_due_unix_ms"`
	ConfirmLatMs   map[string]float64 `json:"confirm_latency_ms"`
	ClientCPU      float64            `json:"client_cpu_pct"`
	Blocked        int64              `json:"blocked_events"`
	Errors         []string           `json:"errors"`
}

func publish(args []string) int {
	var c common
	fs := flag.NewFlagSet("publish", flag.ExitOnError)
	c.flags(fs)
	n := fs.Int64("n", 0, "messages to publish (0: until --duration)")
	dur := fs.Float64("duration", 0, "stop publishing after this many seconds (0: only --n)")
	warm := fs.Float64("warmup", 0, "seconds at the start left out of the rates")
	minD := fs.Int("min-delay", 60000, "smallest x-delay, ms")
	maxD := fs.Int("max-delay", 90000, "largest x-delay, ms")
	confirm := fs.Int("confirm", 1000, "publisher confirms: max unconfirmed messages (0: no confirms)")
	size := fs.Int("size", 16, "body size, bytes (>= 16)")
	persistent := fs.Bool("persistent", true, "delivery mode 2")
	plain := fs.String("plain-queue", "", "baseline: publish to this durable queue (default exchange) instead of the delayed exchange")
	bindQueue := fs.String("bind-queue", "", "also declare this durable queue and bind it to the exchange with --key")
	idBase := fs.Uint64("id-base", 0, "first message id")
	seed := fs.Int64("seed", 1, "random seed for the delays")
	deleteAfter := fs.Bool("delete-after", false, "delete the exchange (or the plain queue) at the end")
	quiet := fs.Bool("quiet", false, "no per-second lines")
	cpuProfile := fs.String("cpuprofile", "", "write a Go CPU profile of this tool to the file")
	fs.IntVar(&batchBytes, "batch-bytes", 0, "hold complete publishes until this many bytes are buffered (or 0.5 ms passed) and write them at once (0: one write per publish)")
	fs.Parse(args)
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "publish:", err)
			return 1
		}
		pprof.StartCPUProfile(f)
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	if *size < bodyHeader || *maxD < *minD || (*n == 0 && *dur == 0) {
		fmt.Fprintln(os.Stderr, "publish: need --size >= 16, --max-delay >= --min-delay, and --n or --duration")
		return 1
	}
	s := pubSummary{Mode: "publish", Label: c.label, Size: *size, Confirm: *confirm, Persistent: *persistent,
		MinDelayMs: *minD, MaxDelayMs: *maxD, Errors: []string{}}
	conn, err := c.dial("delayed-bench-publisher")
	if err != nil {
		fmt.Fprintln(os.Stderr, "publish: dial:", err)
		return 1
	}
	defer conn.Close()
	var blocked atomic.Int64
	blockedCh := conn.NotifyBlocked(make(chan amqp.Blocking, 4))
	go func() {
		for b := range blockedCh {
			if b.Active {
				blocked.Add(1)
				fmt.Fprintln(os.Stderr, "publish: blocked by the broker:", b.Reason)
			}
		}
	}()
	ch, err := conn.Channel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "publish: channel:", err)
		return 1
	}
	exchange, key := c.exchange, c.key
	if *plain != "" {
		s.Target, s.Queue = "plain", *plain
		exchange, key = "", *plain
		if _, err := ch.QueueDeclare(*plain, c.durable, false, false, false, nil); err != nil {
			fmt.Fprintln(os.Stderr, "publish: queue.declare:", err)
			return 1
		}
	} else {
		s.Target, s.Exchange = "delayed", c.exchange
		if err := c.declareExchange(ch); err != nil {
			fmt.Fprintln(os.Stderr, "publish: exchange.declare:", err)
			return 1
		}
		if *bindQueue != "" {
			s.Queue = *bindQueue
			if _, err := ch.QueueDeclare(*bindQueue, c.durable, false, false, false, nil); err != nil {
				fmt.Fprintln(os.Stderr, "publish: queue.declare:", err)
				return 1
			}
			if err := ch.QueueBind(*bindQueue, c.key, c.exchange, false, nil); err != nil {
				fmt.Fprintln(os.Stderr, "publish: queue.bind:", err)
				return 1
			}
		}
	}
	closed := ch.NotifyClose(make(chan *amqp.Error, 1))
	var failed atomic.Value
	go func() {
		if e, ok := <-closed; ok && e != nil {
			failed.Store(e.Error())
		}
	}()

	var confirmed, nacked, lastConf atomic.Int64
	var inflight chan int64
	var confLat samples
	var confMu sync.Mutex
	confDone := make(chan struct{})
	if *confirm > 0 {
		if err := ch.Confirm(false); err != nil {
			fmt.Fprintln(os.Stderr, "publish: confirm.select:", err)
			return 1
		}
		inflight = make(chan int64, *confirm)
		confirms := ch.NotifyPublish(make(chan amqp.Confirmation, *confirm+64))
		go func() {
			defer close(confDone)
			for cf := range confirms {
				sent := <-inflight
				now := time.Now().UnixNano()
				confMu.Lock()
				confLat = append(confLat, clampUs(now-sent))
				confMu.Unlock()
				if cf.Ack {
					confirmed.Add(1)
				} else {
					nacked.Add(1)
				}
				lastConf.Store(now)
			}
		}()
	} else {
		close(confDone)
	}

	rng := rand.New(rand.NewSource(*seed))
	body := make([]byte, *size)
	headers := amqp.Table{}
	msg := amqp.Publishing{Headers: headers, Body: body, DeliveryMode: amqp.Transient}
	if *persistent {
		msg.DeliveryMode = amqp.Persistent
	}
	span := int64(*maxD - *minD + 1)
	var published atomic.Int64
	var minDue, maxDue int64 = 1<<63 - 1, 0
	cpu0 := cpuTime()
	start := time.Now()
	var deadline time.Time
	if *dur > 0 {
		deadline = start.Add(secs(*dur))
	}
	warmAt := start.Add(secs(*warm))
	var warmConf, warmPub atomic.Int64
	warmConf.Store(-1)
	stopTick := make(chan struct{})
	tickDone := make(chan struct{})
	go func() { // progress, and the counts at the end of the warm-up
		defer close(tickDone)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		var lp, lc int64
		last := start
		var warmTimer <-chan time.Time
		if *warm > 0 {
			warmTimer = time.After(time.Until(warmAt))
		} else {
			warmConf.Store(0)
		}
		for {
			select {
			case <-warmTimer:
				warmPub.Store(published.Load())
				warmConf.Store(confirmed.Load())
			case now := <-t.C:
				p, cf := published.Load(), confirmed.Load()
				dt := now.Sub(last).Seconds()
				if !*quiet {
					fmt.Fprintf(os.Stderr, "publish: t=%5.1fs sent %8.0f/s confirmed %8.0f/s total %d\n",
						now.Sub(start).Seconds(), float64(p-lp)/dt, float64(cf-lc)/dt, cf)
				}
				lp, lc, last = p, cf, now
			case <-stopTick:
				return
			}
		}
	}()
	var firstPub, lastPub int64
	for i := int64(0); *n == 0 || i < *n; i++ {
		if !deadline.IsZero() && i%64 == 0 && time.Now().After(deadline) {
			break
		}
		if failed.Load() != nil {
			break
		}
		now := time.Now().UnixNano()
		if inflight != nil {
			inflight <- now
			now = time.Now().UnixNano() // the wait for the window is not part of the delay
		}
		d := int64(*minD) + rng.Int63n(span)
		due := now + d*int64(time.Millisecond)
		if due < minDue {
			minDue = due
		}
		if due > maxDue {
			maxDue = due
		}
		binary.LittleEndian.PutUint64(body[0:], uint64(due))
		binary.LittleEndian.PutUint64(body[8:], *idBase+uint64(i))
		headers["x-delay"] = int32(d)
		if err := ch.Publish(exchange, key, false, false, msg); err != nil {
			s.Errors = append(s.Errors, "publish: "+err.Error())
			break
		}
		if firstPub == 0 {
			firstPub = now
		}
		lastPub = now
		published.Add(1)
	}
	pubEnd := time.Now()
	// Wait for the outstanding confirms (bounded).
	for inflight != nil && len(inflight) > 0 && failed.Load() == nil && time.Since(pubEnd) < 120*time.Second {
		time.Sleep(time.Millisecond)
	}
	close(stopTick)
	<-tickDone
	end := pubEnd
	if lc := lastConf.Load(); lc > 0 && *dur == 0 {
		end = time.Unix(0, lc) // N-limited: the window ends with the last confirm
	}
	if e := failed.Load(); e != nil {
		s.Errors = append(s.Errors, "channel closed: "+e.(string))
	}
	if len(inflight) > 0 {
		s.Errors = append(s.Errors, fmt.Sprintf("%d confirms still outstanding after 120 s", len(inflight)))
	}
	s.Published, s.Confirmed, s.Nacked, s.Blocked = published.Load(), confirmed.Load(), nacked.Load(), blocked.Load()
	wc, wp := warmConf.Load(), warmPub.Load()
	if wc < 0 { // ended before the warm-up did
		wc, wp, warmAt = 0, 0, start
	}
	from := warmAt
	if *warm <= 0 {
		from = start
	}
	window := end.Sub(from).Seconds()
	s.WindowS = round3(window)
	if window > 0 {
		confAtEnd := s.Confirmed
		if *dur > 0 {
			// time-limited: count confirms up to the end of publishing only
			confAtEnd = s.Confirmed - int64(len(inflight))
		}
		s.ConfirmRate = round1(float64(confAtEnd-wc) / window)
		s.PublishRate = round1(float64(s.Published-wp) / end.Sub(from).Seconds())
	}
	if lc := lastConf.Load(); lc > 0 {
		s.LastConfUnixMs = lc / 1e6
		s.ElapsedS = round3(float64(lc-firstPub) / 1e9)
	}
	s.FirstPubUnixMs, s.LastPubUnixMs = firstPub/1e6, lastPub/1e6
	if s.Published > 0 {
		s.MinDueUnixMs, s.MaxDueUnixMs = minDue/1e6, maxDue/1e6
	}
	s.ClientCPU = round1(100 * (cpuTime() - cpu0).Seconds() / time.Since(start).Seconds())
	if *deleteAfter {
		if *plain != "" {
			if _, err := ch.QueueDelete(*plain, false, false, false); err != nil {
				s.Errors = append(s.Errors, "queue.delete: "+err.Error())
			}
		} else if err := ch.ExchangeDelete(c.exchange, false, false); err != nil {
			s.Errors = append(s.Errors, "exchange.delete: "+err.Error())
		}
	}
	ch.Close()
	conn.Close()
	<-confDone
	confMu.Lock()
	s.ConfirmLatMs = confLat.percentiles()
	confMu.Unlock()
	emit(s)
	if len(s.Errors) > 0 || s.Nacked > 0 {
		return 2
	}
	return 0
}

func round1(v float64) float64 { return float64(int64(v*10+0.5)) / 10 }
func round3(v float64) float64 { return float64(int64(v*1000+0.5)) / 1000 }

// ---------------------------------------------------------------- consume

type consSummary struct {
	Mode            string             `json:"mode"`
	Label           string             `json:"label,omitempty"`
	Queue           string             `json:"queue"`
	Expected        int64              `json:"expected"`
	Received        int64              `json:"received"` // deliveries, duplicates included
	Unique          int64              `json:"unique"`
	Missing         int64              `json:"missing"`
	Duplicates      int64              `json:"duplicates"`
	DupRedelivered  int64              `json:"duplicates_redelivered"` // of those, flagged redelivered
	Redelivered     int64              `json:"redelivered"`
	OutOfRange      int64              `json:"out_of_range"`
	BadBodies       int64              `json:"bad_bodies"`
	Early           int64              `json:"early"` // arrived more than 1 ms before due
	LatenessMs      map[string]float64 `json:"lateness_ms"`
	LateOver50ms    int64              `json:"late_over_50ms"`
	LateOver1s      int64              `json:"late_over_1s"`
	FirstArrivalMs  int64              `json:"first_arrival_unix_ms"`
	FirstLatenessMs float64            `json:"first_lateness_ms"`
	LastArrivalMs   int64              `json:"last_arrival_unix_ms"`
	ConnectedUnixMs int64              `json:"connected_unix_ms"`
	Reconnects      int                `json:"reconnects"`
	WorstSecond     string             `json:"worst_second"`
	ClientCPU       float64            `json:"client_cpu_pct"`
	EndedBy         string             `json:"ended_by"`
	Errors          []string           `json:"errors"`
}

func consume(args []string) int {
	var c common
	fs := flag.NewFlagSet("consume", flag.ExitOnError)
	c.flags(fs)
	queue := fs.String("queue", "delayed-bench-q", "durable queue bound to the exchange")
	declare := fs.Bool("declare", true, "declare the exchange and the queue and bind them")
	n := fs.Int64("n", 0, "ids expected: --id-base .. --id-base+N-1; stop when all arrived")
	idBase := fs.Uint64("id-base", 0, "first message id")
	prefetch := fs.Int("prefetch", 1000, "basic.qos prefetch")
	multiAck := fs.Int("multi-ack-every", 100, "ack with multiple=true every N messages (and every 20 ms)")
	autoAck := fs.Bool("autoack", false, "consume with no-ack")
	timeout := fs.Float64("timeout", 600, "stop after this many seconds in any case")
	reconnect := fs.Float64("reconnect", 0, "on connection loss, keep trying to reconnect for this many seconds (0: fail)")
	readyFile := fs.String("ready-file", "", "create this file once subscribed")
	timeline := fs.String("timeline", "", "write one line per second: unix_s count p50_ms p99_ms max_ms unique_total queue_ready")
	monitor := fs.Bool("monitor", true, "poll the queue's ready count every second on a second connection (timeline column 7; -1 unknown)")
	quiet := fs.Bool("quiet", false, "no per-second lines")
	fs.Parse(args)
	if *n <= 0 {
		fmt.Fprintln(os.Stderr, "consume: need --n")
		return 1
	}
	s := consSummary{Mode: "consume", Label: c.label, Queue: *queue, Expected: *n, Errors: []string{}}
	seen := make([]uint64, (*n+63)/64)
	lat := make(samples, 0, *n)
	var unique int64
	var tl *os.File
	if *timeline != "" {
		f, err := os.Create(*timeline)
		if err != nil {
			fmt.Fprintln(os.Stderr, "consume:", err)
			return 1
		}
		tl = f
		defer f.Close()
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	cpu0 := cpuTime()
	start := time.Now()
	deadline := time.NewTimer(secs(*timeout))
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	flush := time.NewTicker(20 * time.Millisecond)
	defer flush.Stop()
	secFrom := 0 // lat index where the current second began
	worst := -1.0

	type session struct {
		conn  *amqp.Connection
		ch    *amqp.Channel
		dels  <-chan amqp.Delivery
		close chan *amqp.Error
	}
	open := func() (*session, error) {
		conn, err := c.dial("delayed-bench-consumer")
		if err != nil {
			return nil, err
		}
		ch, err := conn.Channel()
		if err != nil {
			conn.Close()
			return nil, err
		}
		if *declare {
			if err := c.declareExchange(ch); err != nil {
				conn.Close()
				return nil, fmt.Errorf("exchange.declare: %v", err)
			}
			if _, err := ch.QueueDeclare(*queue, c.durable, false, false, false, nil); err != nil {
				conn.Close()
				return nil, fmt.Errorf("queue.declare: %v", err)
			}
			if err := ch.QueueBind(*queue, c.key, c.exchange, false, nil); err != nil {
				conn.Close()
				return nil, fmt.Errorf("queue.bind: %v", err)
			}
		}
		if !*autoAck {
			if err := ch.Qos(*prefetch, 0, false); err != nil {
				conn.Close()
				return nil, err
			}
		}
		d, err := ch.Consume(*queue, "delayed-bench", *autoAck, false, false, false, nil)
		if err != nil {
			conn.Close()
			return nil, fmt.Errorf("basic.consume: %v", err)
		}
		return &session{conn: conn, ch: ch, dels: d, close: conn.NotifyClose(make(chan *amqp.Error, 1))}, nil
	}
	sess, err := open()
	if err != nil {
		fmt.Fprintln(os.Stderr, "consume:", err)
		return 1
	}
	s.ConnectedUnixMs = time.Now().UnixMilli()
	var queueReady atomic.Int64
	queueReady.Store(-1)
	stopMon := make(chan struct{})
	defer close(stopMon)
	if *monitor {
		go func() {
			var mc *amqp.Connection
			var mch *amqp.Channel
			t := time.NewTicker(time.Second)
			defer t.Stop()
			defer func() {
				if mc != nil {
					mc.Close()
				}
			}()
			for {
				if mch == nil || mch.IsClosed() {
					if mc != nil {
						mc.Close()
					}
					mc, mch = nil, nil
					if conn, err := c.dial("delayed-bench-monitor"); err == nil {
						if ch, err := conn.Channel(); err == nil {
							mc, mch = conn, ch
						} else {
							conn.Close()
						}
					}
				}
				if mch != nil {
					if q, err := mch.QueueDeclarePassive(*queue, c.durable, false, false, false, nil); err == nil {
						queueReady.Store(int64(q.Messages))
					} else {
						queueReady.Store(-1)
					}
				}
				select {
				case <-t.C:
				case <-stopMon:
					return
				}
			}
		}()
	}
	if *readyFile != "" {
		os.WriteFile(*readyFile, []byte("ready\n"), 0o644)
	}
	var pending int
	var lastTag uint64
	ackPending := func() {
		if pending > 0 && sess != nil {
			if err := sess.ch.Ack(lastTag, true); err != nil {
				s.Errors = append(s.Errors, "ack: "+err.Error())
			}
			pending = 0
		}
	}
	var lastSec int64
	perSecond := func(now time.Time) {
		part := lat[secFrom:]
		cnt := len(part)
		var p50, p99, mx float64
		if cnt > 0 {
			p := part.percentiles()
			p50, p99, mx = p["p50"], p["p99"], p["max"]
			if mx > worst {
				worst = mx
				s.WorstSecond = fmt.Sprintf("%s: %d arrivals, p99 %.1f ms, max %.1f ms", now.Format("15:04:05"), cnt, p99, mx)
			}
		}
		if tl != nil {
			fmt.Fprintf(tl, "%d %d %.3f %.3f %.3f %d %d\n", now.Unix(), cnt, p50, p99, mx, unique, queueReady.Load())
		}
		if !*quiet && (cnt > 0 || now.Unix()-lastSec >= 10) {
			fmt.Fprintf(os.Stderr, "consume: t=%5.1fs received %7d/s lateness p50 %7.1f p99 %7.1f max %7.1f ms unique %d queue ready %d\n",
				now.Sub(start).Seconds(), cnt, p50, p99, mx, unique, queueReady.Load())
			lastSec = now.Unix()
		}
		secFrom = len(lat)
	}
loop:
	for {
		if sess == nil { // reconnecting
			until := time.Now().Add(secs(*reconnect))
			for sess == nil {
				if time.Now().After(until) {
					s.Errors = append(s.Errors, "could not reconnect")
					s.EndedBy = "error"
					break loop
				}
				select {
				case <-deadline.C:
					s.EndedBy = "timeout"
					break loop
				case <-time.After(20 * time.Millisecond):
				}
				if sess, err = open(); err == nil {
					s.Reconnects++
					fmt.Fprintln(os.Stderr, "consume: reconnected")
				}
			}
		}
		select {
		case d, ok := <-sess.dels:
			if !ok {
				if *reconnect > 0 {
					fmt.Fprintln(os.Stderr, "consume: connection lost; reconnecting")
					sess.conn.Close()
					sess, pending = nil, 0
					continue
				}
				s.Errors = append(s.Errors, "deliveries ended (connection or channel closed)")
				s.EndedBy = "error"
				break loop
			}
			now := time.Now().UnixNano()
			s.Received++
			if d.Redelivered {
				s.Redelivered++
			}
			if len(d.Body) < bodyHeader {
				s.BadBodies++
			} else {
				due := int64(binary.LittleEndian.Uint64(d.Body[0:]))
				id := binary.LittleEndian.Uint64(d.Body[8:]) - *idBase
				l := now - due
				if id >= uint64(*n) {
					s.OutOfRange++
				} else if seen[id/64]&(1<<(id%64)) != 0 {
					s.Duplicates++
					if d.Redelivered {
						s.DupRedelivered++
					}
				} else {
					seen[id/64] |= 1 << (id % 64)
					unique++
					lat = append(lat, clampUs(l))
					if l < -int64(time.Millisecond) {
						s.Early++
					}
					if l > 50*int64(time.Millisecond) {
						s.LateOver50ms++
					}
					if l > int64(time.Second) {
						s.LateOver1s++
					}
					if s.FirstArrivalMs == 0 {
						s.FirstArrivalMs = now / 1e6
						s.FirstLatenessMs = round3(float64(l) / 1e6)
					}
					s.LastArrivalMs = now / 1e6
				}
			}
			if !*autoAck {
				pending++
				lastTag = d.DeliveryTag
				if pending >= *multiAck {
					ackPending()
				}
			}
			if unique == *n {
				ackPending()
				s.EndedBy = "all arrived"
				break loop
			}
		case <-flush.C:
			ackPending()
		case now := <-tick.C:
			perSecond(now)
		case <-deadline.C:
			s.EndedBy = "timeout"
			break loop
		case <-sigs:
			s.EndedBy = "signal"
			break loop
		}
	}
	perSecond(time.Now())
	// Linger briefly to catch duplicates right behind the last message.
	if sess != nil && s.EndedBy == "all arrived" {
		linger := time.After(2 * time.Second)
	drain:
		for {
			select {
			case d, ok := <-sess.dels:
				if !ok {
					break drain
				}
				s.Received++
				if len(d.Body) >= bodyHeader {
					id := binary.LittleEndian.Uint64(d.Body[8:]) - *idBase
					if id < uint64(*n) && seen[id/64]&(1<<(id%64)) != 0 {
						s.Duplicates++
						if d.Redelivered {
							s.DupRedelivered++
						}
					} else {
						s.OutOfRange++
					}
				}
				if !*autoAck {
					d.Ack(false)
				}
			case <-linger:
				break drain
			}
		}
	}
	if sess != nil {
		sess.ch.Close()
		sess.conn.Close()
	}
	s.Unique = unique
	s.Missing = *n - unique
	s.LatenessMs = lat.percentiles()
	s.ClientCPU = round1(100 * (cpuTime() - cpu0).Seconds() / time.Since(start).Seconds())
	emit(s)
	if len(s.Errors) > 0 || s.Missing > 0 || s.Duplicates > 0 {
		return 2
	}
	return 0
}

// ---------------------------------------------------------------- rss

func procStatus(pid int) (rssKB int64, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, false
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			f := strings.Fields(l)
			v, _ := strconv.ParseInt(f[1], 10, 64)
			return v, true
		}
	}
	return 0, false
}

func procTicks(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	i := bytes.LastIndexByte(b, ')')
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return u + s
}

// hostBusy returns busy and total jiffies of all CPUs.
func hostBusy() (busy, total int64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line := strings.SplitN(string(b), "\n", 2)[0]
	for i, v := range strings.Fields(line)[1:] {
		if i >= 8 {
			break
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		total += n
		if i != 3 && i != 4 && i != 7 {
			busy += n
		}
	}
	return
}

func rss(args []string) int {
	fs := flag.NewFlagSet("rss", flag.ExitOnError)
	pid := fs.Int("pid", 0, "process to sample")
	out := fs.String("out", "", "file to append lines to: unix_ms rss_kb proc_ticks host_busy_ticks host_total_ticks")
	interval := fs.Float64("interval", 0.25, "seconds between samples")
	fs.Parse(args)
	if *pid == 0 || *out == "" {
		fmt.Fprintln(os.Stderr, "rss: need --pid and --out")
		return 1
	}
	f, err := os.OpenFile(*out, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, "rss:", err)
		return 1
	}
	defer f.Close()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	t := time.NewTicker(secs(*interval))
	defer t.Stop()
	var peak int64
	for {
		r, ok := procStatus(*pid)
		if !ok {
			break
		}
		if r > peak {
			peak = r
		}
		hb, ht := hostBusy()
		fmt.Fprintf(f, "%d %d %d %d %d\n", time.Now().UnixMilli(), r, procTicks(*pid), hb, ht)
		select {
		case <-t.C:
		case <-sigs:
			fmt.Printf("%d\n", peak)
			return 0
		}
	}
	fmt.Printf("%d\n", peak)
	return 0
}

// ---------------------------------------------------------------- ready

func ready(args []string) int {
	var c common
	fs := flag.NewFlagSet("ready", flag.ExitOnError)
	c.flags(fs)
	since := fs.Int64("since", 0, "reference time, Unix ns (default: now)")
	timeout := fs.Float64("timeout", 600, "give up after this many seconds")
	fs.Parse(args)
	t0 := time.Now()
	if *since > 0 {
		t0 = time.Unix(0, *since)
	}
	host := "127.0.0.1:5701"
	if u, err := amqp.ParseURI(c.uri); err == nil {
		host = net.JoinHostPort(u.Host, strconv.Itoa(u.Port))
	}
	end := time.Now().Add(secs(*timeout))
	var tcpAt time.Time
	for time.Now().Before(end) {
		if tcpAt.IsZero() {
			if cn, err := net.DialTimeout("tcp", host, time.Second); err == nil {
				tcpAt = time.Now()
				cn.Close()
			} else {
				time.Sleep(5 * time.Millisecond)
				continue
			}
		}
		conn, err := c.dial("delayed-bench-ready")
		if err == nil {
			amqpAt := time.Now()
			conn.Close()
			emit(map[string]interface{}{"tcp_accept_s": round3(tcpAt.Sub(t0).Seconds()), "amqp_open_s": round3(amqpAt.Sub(t0).Seconds()),
				"amqp_open_unix_ms": amqpAt.UnixMilli()})
			return 0
		}
		time.Sleep(5 * time.Millisecond)
	}
	fmt.Fprintln(os.Stderr, "ready:", errors.New("timed out"))
	return 2
}
