package kafka

import (
	"context"
	"errors"
	"reflect"
	"time"

	"github.com/edgelog/edgelog/hub/store"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// defaultFetchMaxBytes applies to Fetch versions without MaxBytes.
const defaultFetchMaxBytes = 52428800

// handleFetch serves stored batches as they are. The whole fetch, long
// poll included, runs on the writer goroutine.
func handleFetch(_ context.Context, c *conn, _ header, r kmsg.Request) respondFunc {
	req := r.(*kmsg.FetchRequest)
	return func(ctx context.Context) kmsg.Response { return c.s.fetch(ctx, req) }
}

// fetch reads every requested partition; while fewer than MinBytes are
// available it waits, until MaxWait, for any of them to grow.
func (s *Server) fetch(ctx context.Context, req *kmsg.FetchRequest) *kmsg.FetchResponse {
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	if req.Version >= 7 && (req.SessionID != 0 || req.SessionEpoch > 0) {
		// The hub keeps no fetch sessions; answering with session ID 0
		// makes clients send full fetches.
		if req.SessionID != 0 {
			resp.ErrorCode = kerr.FetchSessionIDNotFound.Code
		} else {
			resp.ErrorCode = kerr.InvalidFetchSessionEpoch.Code
		}
		return resp
	}
	wait := time.Duration(req.MaxWaitMillis) * time.Millisecond
	if wait > s.cfg.MaxFetchWait {
		wait = s.cfg.MaxFetchWait
	}
	deadline := time.Now().Add(wait)
	maxBytes := int(req.MaxBytes)
	if req.Version < 3 || maxBytes <= 0 {
		maxBytes = defaultFetchMaxBytes
	}
	for {
		var waitOn []<-chan struct{}
		total, failed := s.fetchOnce(req, resp, maxBytes, &waitOn)
		if total >= int(req.MinBytes) || failed || len(waitOn) == 0 {
			break
		}
		left := time.Until(deadline)
		if left <= 0 || !waitAny(ctx, waitOn, left) {
			break
		}
	}
	bytes := 0
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			bytes += len(p.RecordBatches)
		}
	}
	s.metrics.fetchedBytes.Add(float64(bytes))
	return resp
}

// fetchOnce fills resp (replacing what an earlier pass put there) and
// returns the bytes of record batches it holds and whether any partition
// failed (which answers at once, as Kafka does). Wake-up channels of the
// partitions read are appended to waitOn, taken before reading so that no
// append between the read and the wait is missed.
func (s *Server) fetchOnce(req *kmsg.FetchRequest, resp *kmsg.FetchResponse, maxBytes int, waitOn *[]<-chan struct{}) (total int, failed bool) {
	resp.Topics = resp.Topics[:0]
	for _, rt := range req.Topics {
		st := kmsg.NewFetchResponseTopic()
		st.Topic = rt.Topic
		st.Partitions = make([]kmsg.FetchResponseTopicPartition, len(rt.Partitions))
		for i, rp := range rt.Partitions {
			sp := &st.Partitions[i]
			*sp = kmsg.NewFetchResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = -1, -1, -1
			sp.RecordBatches = []byte{} // empty, never null: librdkafka rejects a null record set
			p, err := s.b.Partition(rt.Topic, rp.Partition)
			if err != nil {
				sp.ErrorCode, failed = errorCode(err), true
				continue
			}
			*waitOn = append(*waitOn, p.Wait())
			limit := int(rp.PartitionMaxBytes)
			if rem := maxBytes - total; rem < limit {
				limit = rem
			}
			var data []byte
			var res store.ReadResult
			if limit > 0 || total == 0 {
				data, res, err = p.Read(rp.FetchOffset, max(limit, 0), total == 0)
			} else {
				start, hw, _ := p.Offsets()
				res = store.ReadResult{LogStart: start, HighWatermark: hw}
			}
			sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = res.HighWatermark, res.HighWatermark, res.LogStart
			if err != nil {
				sp.ErrorCode, failed = errorCode(err), true
				if !errors.Is(err, store.ErrOffsetOutOfRange) {
					s.log.Warn("kafka: fetch read failed", "topic", rt.Topic, "partition", rp.Partition, "err", err)
				}
				continue
			}
			if len(data) > 0 {
				sp.RecordBatches = data
			}
			total += len(data)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return total, failed
}

// waitAny waits until one of chans is closed (true), or d passes or ctx
// ends (false).
func waitAny(ctx context.Context, chans []<-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	if len(chans) == 1 {
		select {
		case <-chans[0]:
			return true
		case <-t.C:
			return false
		case <-ctx.Done():
			return false
		}
	}
	cases := make([]reflect.SelectCase, 0, len(chans)+2)
	cases = append(cases,
		reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(t.C)},
		reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ctx.Done())})
	for _, ch := range chans {
		cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ch)})
	}
	i, _, _ := reflect.Select(cases)
	return i >= 2
}
