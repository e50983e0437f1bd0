package tests

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgelog/edgelog/internal/testkit"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestHostileMQTT throws malformed MQTT at a running agent — random bytes,
// lying lengths, oversized packets, bad UTF-8, invalid topics, protocol
// violations, MQTT 5 properties that lie, idle half-open connections —
// while well-behaved devices publish: the agent must not crash, none of it
// may be stored, and the devices must not notice (every one of their
// publishes acknowledged and at the hub exactly once).
func TestHostileMQTT(t *testing.T) {
	r := newRand(t)
	hub := testkit.StartHub(t, testkit.HubOptions{})
	ag := testkit.StartAgent(t, testkit.AgentOptions{Hub: hub.SyncAddr, Credentials: hub.Credentials(t, "gw-hostile"),
		Args: []string{"--max-packet-size", "64KiB"}})
	f := newFleet(t, ag.Broker(), "calm", 4, testkit.DeviceOptions{PayloadSize: 100, Interval: 2 * time.Millisecond})
	f.run(1, 2)

	big := bytes.Repeat([]byte("x"), 128<<10)
	cases := map[string][][]byte{
		"publish before connect":  {publish311([]byte("evil/a"), 1, []byte("x"))},
		"second connect":          {connect311("evil-2c"), connect311("evil-2c")},
		"bad utf-8 topic":         {connect311("evil-utf8"), publish311([]byte{'e', 0xC3, 0x28, '/', 'x'}, 1, []byte("x"))},
		"wildcard topic +":        {connect311("evil-plus"), publish311([]byte("evil/+/x"), 1, []byte("x"))},
		"wildcard topic #":        {connect311("evil-hash"), publish311([]byte("evil/#"), 1, []byte("x"))},
		"nul in topic":            {connect311("evil-nul"), publish311([]byte("evil/\x00/x"), 1, []byte("x"))},
		"empty topic":             {connect311("evil-empty"), publish311(nil, 1, []byte("x"))},
		"qos 3":                   {connect311("evil-qos3"), append([]byte{0x36}, publish311([]byte("evil/q"), 1, []byte("x"))[1:]...)},
		"packet id 0":             {connect311("evil-pid0"), publish311([]byte("evil/p"), 0, []byte("x"))},
		"reserved type 0":         {connect311("evil-t0"), {0x00, 0x00}},
		"reserved type 15":        {connect311("evil-t15"), {0xF0, 0x00}},
		"bad protocol name":       {packet(0x10, mqttStr("XQTT"), []byte{4, 0x02, 0, 60}, mqttStr("evil-proto"))},
		"bad protocol level":      {packet(0x10, mqttStr("MQTT"), []byte{9, 0x02, 0, 60}, mqttStr("evil-level"))},
		"reserved connect flag":   {packet(0x10, mqttStr("MQTT"), []byte{4, 0x03, 0, 60}, mqttStr("evil-flag"))},
		"huge client id":          {connect311("evil-" + strings.Repeat("i", 65000))},
		"five-byte length":        {connect311("evil-varint"), {0x32, 0xFF, 0xFF, 0xFF, 0xFF, 0x01}},
		"length past the limit":   {connect311("evil-len"), {0x32, 0xFF, 0xFF, 0xFF, 0x7F}, big},
		"oversized publish":       {connect311("evil-big"), publish311([]byte("evil/big"), 1, big)},
		"length longer than sent": {connect311("evil-short"), {0x32, 0x80, 0x08, 0, 6, 'e', 'v'}},
		"subscribe bad filter":    {connect311("evil-sub"), packet(0x82, []byte{0, 1}, mqttStr("a/#/b"), []byte{1})},
		"unknown pubrel":          {connect311("evil-rel"), packet(0x62, []byte{0x12, 0x34})},
		"mqtt 5 lying properties": {connect5("evil-v5", append(varint(1<<20), 0x11))},
		"mqtt 5 unknown property": {connect5("evil-v5p", []byte{3, 0x7F, 0, 1})},
		"mqtt 5 publish bad property": {connect5("evil-v5pub", []byte{0}),
			packet(0x32, mqttStr("evil/v5"), []byte{0, 1}, []byte{2, 0xFF, 0}, []byte("x"))},
	}
	for i := range 30 {
		junk := make([]byte, 1+r.IntN(2048))
		for j := range junk {
			junk[j] = byte(r.UintN(256))
		}
		if i%2 == 0 {
			cases[fmt.Sprintf("random bytes %d", i)] = [][]byte{junk}
		} else {
			cases[fmt.Sprintf("random bytes after connect %d", i)] = [][]byte{connect311(fmt.Sprintf("evil-rand-%d", i)), junk}
		}
	}
	// Half-open connections that never finish their CONNECT, held
	// throughout.
	var idle []net.Conn
	for range 50 {
		nc, err := net.Dial("tcp", ag.MQTTAddr)
		if err != nil {
			t.Fatal(err)
		}
		nc.Write([]byte{0x10})
		idle = append(idle, nc)
	}
	defer func() {
		for _, nc := range idle {
			nc.Close()
		}
	}()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for name, chunks := range cases {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			if _, err := rawMQTT(ag.MQTTAddr, 5*time.Second, chunks...); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		})
	}
	wg.Wait()
	f.waitAcked(f.ackedTotal() + 500)
	f.stop()
	if !ag.Running() {
		t.Fatalf("the agent died: %v", ag.ExitError())
	}
	healthy(t, hub.HTTPAddr, ag.HTTPAddr)
	if n := f.failed(); n > 0 {
		t.Errorf("%d publishes of well-behaved devices were not acknowledged during the attack", n)
	}
	f.keepsWorking(20, 1)
	expectExactlyOnce(t, hub.KafkaAddr, "calm", f.acked())
	// Nothing of the attack was stored.
	out, err := exec.Command(testkit.Binary(t), "wal", "dump", "--format", "json", ag.Dir).Output()
	if err != nil {
		t.Fatalf("wal dump: %v", err)
	}
	for _, ln := range bytes.Split(bytes.TrimSpace(out), []byte("\n")) {
		var rec struct {
			ClientID string `json:"client_id"`
			Topic    string `json:"topic"`
		}
		if err := json.Unmarshal(ln, &rec); err != nil {
			t.Fatalf("wal dump line %q: %v", ln, err)
		}
		if strings.HasPrefix(rec.ClientID, "evil") || strings.HasPrefix(rec.Topic, "evil") {
			t.Errorf("stored from the attack: client %q topic %q", rec.ClientID, rec.Topic)
		}
	}
	rejected, _ := ag.Metric(`edgelog_agent_rejected_publishes_total{reason="invalid_topic"}`)
	t.Logf("%d hostile connections; %v publishes refused for their topic; %d well-behaved publishes acknowledged", len(cases)+len(idle), rejected, f.ackedTotal())
}

// TestHostileKafka sends malformed Kafka requests to a running hub — lying
// and negative lengths, garbage bodies, unknown API keys and versions,
// arrays that claim billions of entries, a corrupt record batch, truncated
// and abandoned requests, random bytes — while a consumer group reads the
// records devices publish through an agent and a producer writes to another
// topic: the hub must not crash, and neither client may notice.
func TestHostileKafka(t *testing.T) {
	r := newRand(t)
	hub := testkit.StartHub(t, testkit.HubOptions{})
	ag := testkit.StartAgent(t, testkit.AgentOptions{Hub: hub.SyncAddr, Credentials: hub.Credentials(t, "gw-kafka")})
	f := newFleet(t, ag.Broker(), "steady", 2, testkit.DeviceOptions{PayloadSize: 100, Interval: 5 * time.Millisecond})
	f.run(1)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	// A consumer group member reading steady, and a producer writing.
	consumed := map[string]int{}
	var cmu sync.Mutex
	cons, err := kgo.NewClient(kgo.SeedBrokers(hub.KafkaAddr), kgo.ConsumerGroup("legit"), kgo.ConsumeTopics("steady"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	var bg sync.WaitGroup
	consCtx, stopCons := context.WithCancel(ctx)
	bg.Go(func() {
		for consCtx.Err() == nil {
			fs := cons.PollFetches(consCtx)
			fs.EachRecord(func(rec *kgo.Record) {
				cmu.Lock()
				consumed[string(rec.Value)]++
				cmu.Unlock()
			})
		}
	})
	prod, err := kgo.NewClient(kgo.SeedBrokers(hub.KafkaAddr), kgo.DefaultProduceTopic("produced"), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	var produced, produceErrs int
	bg.Go(func() {
		for i := 0; consCtx.Err() == nil; i++ {
			if err := prod.ProduceSync(ctx, &kgo.Record{Value: fmt.Appendf(nil, "p-%d", i)}).FirstErr(); err != nil {
				produceErrs++
			} else {
				produced++
			}
			time.Sleep(5 * time.Millisecond)
		}
	})

	frame := func(body []byte) []byte {
		return append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
	}
	request := func(req kmsg.Request, version int16) []byte {
		req.SetVersion(version)
		return kmsg.NewRequestFormatter(kmsg.FormatterClientID("evil")).AppendRequest(nil, req, 1)
	}
	fetch := request(fetchRequest(), 11)
	bigArray := bytes.Clone(fetch)
	// Fetch v11 body after the header: replica, max wait, min bytes, max
	// bytes, isolation, session id, epoch, then the topic array length.
	if off := 4 + 2 + 2 + 4 + 2 + 4 + 4 + 4 + 4 + 1 + 4 + 4; off+4 <= len(bigArray) {
		binary.BigEndian.PutUint32(bigArray[off:], 0x7FFFFFFF)
	}
	produce := request(produceRequest(), 7)
	corrupt := bytes.Clone(produce)
	corrupt[len(corrupt)-10] ^= 0xFF // inside the record batch: its CRC no longer matches
	cases := map[string][]byte{
		"2 GiB length":        binary.BigEndian.AppendUint32(nil, 0x7FFFFFFF),
		"negative length":     binary.BigEndian.AppendUint32(nil, 0xFFFFFFFF),
		"zero length":         binary.BigEndian.AppendUint32(nil, 0),
		"garbage body":        frame([]byte("garbage!")),
		"unknown api key":     frame([]byte{0x27, 0x0F, 0, 0, 0, 0, 0, 1, 0, 0}),
		"unsupported version": frame([]byte{0, 3, 0x7F, 0x00, 0, 0, 0, 1, 0, 0}),
		"client id too long":  frame([]byte{0, 18, 0, 0, 0, 0, 0, 1, 0x7F, 0xFF, 'x'}),
		"array of billions":   bigArray,
		"corrupt batch":       corrupt,
		"truncated request":   fetch[:len(fetch)/2],
		"sasl not enabled":    request(kmsg.NewPtrSASLHandshakeRequest(), 1),
	}
	for i := range 30 {
		junk := make([]byte, 1+r.IntN(1024))
		for j := range junk {
			junk[j] = byte(r.UintN(256))
		}
		cases[fmt.Sprintf("random frame %d", i)] = frame(junk)
		cases[fmt.Sprintf("random bytes %d", i)] = junk
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for name, b := range cases {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			if _, err := rawMQTT(hub.KafkaAddr, 3*time.Second, b); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		})
	}
	wg.Wait()
	f.waitAcked(f.ackedTotal() + 200)
	f.stop()
	if !hub.Running() {
		t.Fatalf("the hub died: %v", hub.ExitError())
	}
	healthy(t, hub.HTTPAddr, ag.HTTPAddr)
	got := expectExactlyOnce(t, hub.KafkaAddr, "steady", f.acked())
	for _, rec := range got {
		if string(rec.Value) == "evil record" {
			t.Errorf("the corrupt batch was stored at %d/%d", rec.Partition, rec.Offset)
		}
	}
	// The group member kept consuming: it reads every acknowledged publish.
	acked := 0
	for _, d := range f.devs {
		acked += len(d.Acked())
	}
	if err := testkit.Eventually(ctx, 2*time.Minute, func() bool {
		cmu.Lock()
		defer cmu.Unlock()
		return len(consumed) >= acked
	}); err != nil {
		cmu.Lock()
		t.Errorf("the consumer group member read %d distinct records of %d acknowledged", len(consumed), acked)
		cmu.Unlock()
	}
	stopCons()
	bg.Wait()
	if produceErrs > 0 || produced == 0 {
		t.Errorf("the producer wrote %d records and failed %d times during the attack", produced, produceErrs)
	}
	t.Logf("%d hostile requests; the consumer read %d records, the producer wrote %d", len(cases), len(consumed), produced)
}

func fetchRequest() *kmsg.FetchRequest {
	r := kmsg.NewPtrFetchRequest()
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = "steady"
	ft.Partitions = append(ft.Partitions, kmsg.NewFetchRequestTopicPartition())
	r.Topics = append(r.Topics, ft)
	return r
}

func produceRequest() *kmsg.ProduceRequest {
	r := kmsg.NewPtrProduceRequest()
	r.Acks = -1
	r.TimeoutMillis = 5000
	t := kmsg.NewProduceRequestTopic()
	t.Topic = "steady"
	p := kmsg.NewProduceRequestTopicPartition()
	rec := kmsg.Record{Value: []byte("evil record")}
	batch := kmsg.RecordBatch{Magic: 2, NumRecords: 1, FirstTimestamp: time.Now().UnixMilli(), MaxTimestamp: time.Now().UnixMilli(), ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1}
	batch.Records = rec.AppendTo(nil)
	b := batch.AppendTo(nil)
	p.Records = b
	t.Partitions = append(t.Partitions, p)
	r.Topics = append(r.Topics, t)
	return r
}
