package sim

import "time"

// message is one sampled reading, ready to publish (and to publish again if
// its delivery fails).
type message struct {
	topic   string
	qos     byte
	seq     uint64
	payload []byte
	sampled time.Time // real time of sampling
}

// queue is a device's bounded outbox (a ring buffer): readings wait here
// while the device is disconnected, asleep or at its in-flight window. When
// full, the drop policy decides which message is lost. Only the device's
// goroutine uses it.
type queue struct {
	buf        []message
	head, n    int
	dropOldest bool
}

func newQueue(size int, dropOldest bool) *queue {
	return &queue{buf: make([]message, size), dropOldest: dropOldest}
}

func (q *queue) len() int { return q.n }

// push appends m; it reports whether a message was dropped to make room (or
// m itself, under drop-newest).
func (q *queue) push(m message) (dropped bool) {
	if q.n == len(q.buf) {
		if !q.dropOldest {
			return true
		}
		q.pop()
		dropped = true
	}
	q.buf[(q.head+q.n)%len(q.buf)] = m
	q.n++
	return dropped
}

// pushFront puts a message whose delivery failed back at the head, ahead of
// newer readings, so retries keep sampling order. When full, the policy
// still decides: m is older than everything queued, so drop-oldest drops m
// and drop-newest drops the tail.
func (q *queue) pushFront(m message) (dropped bool) {
	if q.n == len(q.buf) {
		if q.dropOldest {
			return true // m is the oldest of all
		}
		q.n-- // drop the newest
		dropped = true
	}
	q.head = (q.head - 1 + len(q.buf)) % len(q.buf)
	q.buf[q.head] = m
	q.n++
	return dropped
}

func (q *queue) pop() message {
	m := q.buf[q.head]
	q.buf[q.head] = message{}
	q.head = (q.head + 1) % len(q.buf)
	q.n--
	return m
}
