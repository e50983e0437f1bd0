package kafka

import (
	"context"
	"errors"
	"time"

	"github.com/edgelog/edgelog/hub"
	"github.com/edgelog/edgelog/hub/store"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// handleProduce appends on the reader goroutine, in request order (so an
// idempotent producer's pipelined requests are checked in order), and waits
// for durability on the writer goroutine, so the next request's appends
// share the fsync.
func handleProduce(_ context.Context, c *conn, _ header, r kmsg.Request) respondFunc {
	req := r.(*kmsg.ProduceRequest)
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	b := c.s.b
	var waits []produceWait
	badAcks := req.Acks != 0 && req.Acks != 1 && req.Acks != -1
	for _, rt := range req.Topics {
		st := kmsg.NewProduceResponseTopic()
		st.Topic = rt.Topic
		var terr error
		switch {
		case req.TransactionID != nil:
			terr = errTransactional
		case badAcks:
			terr = errBadAcks
		case b.AutoCreate():
			_, _, terr = b.EnsureTopic(context.Background(), rt.Topic)
		default:
			_, terr = b.Topic(rt.Topic)
		}
		st.Partitions = make([]kmsg.ProduceResponseTopicPartition, len(rt.Partitions))
		for i, rp := range rt.Partitions {
			sp := &st.Partitions[i]
			*sp = kmsg.NewProduceResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.BaseOffset, sp.LogAppendTime, sp.LogStartOffset = -1, -1, -1
			if terr != nil {
				sp.ErrorCode = produceErrorCode(terr)
				continue
			}
			a, err := b.Append(rt.Topic, rp.Partition, rp.Records)
			if err != nil && a.Partition == nil {
				sp.ErrorCode = produceErrorCode(err)
				sp.ErrorMessage = errorMessage(err)
				c.s.log.Debug("kafka: produce refused", "topic", rt.Topic, "partition", rp.Partition, "err", err)
				continue
			}
			sp.BaseOffset = a.BaseOffset
			waits = append(waits, produceWait{a, err, sp}) // sp stays valid: Partitions is not reallocated
		}
		resp.Topics = append(resp.Topics, st)
	}
	if req.Acks == 0 {
		// No answer, but the records still become durable (and so
		// readable) through the same group commit.
		return func(ctx context.Context) kmsg.Response {
			store.WaitAll(ctx, pendings(waits))
			return nil
		}
	}
	timeout := time.Duration(req.TimeoutMillis) * time.Millisecond
	return func(ctx context.Context) kmsg.Response {
		if timeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, timeout)
			defer cancel()
		}
		errs := store.WaitAll(ctx, pendings(waits))
		for i, w := range waits {
			err := errs[i]
			if err == nil {
				err = w.err
			}
			w.rp.ErrorCode = produceErrorCode(err)
			if err != nil && !errors.Is(err, hub.ErrDuplicateSequence) {
				w.rp.ErrorMessage = errorMessage(err)
			}
			start, _, _ := w.a.Partition.Offsets()
			w.rp.LogStartOffset = start
		}
		return resp
	}
}

// produceWait is one partition's append awaiting durability.
type produceWait struct {
	a   hub.Appended
	err error // the append's own error (a duplicate still waits)
	rp  *kmsg.ProduceResponseTopicPartition
}

func pendings(ws []produceWait) []store.Pending {
	out := make([]store.Pending, len(ws))
	for i, w := range ws {
		out[i] = store.Pending{P: w.a.Partition, End: w.a.End}
	}
	return out
}

var (
	errTransactional = errors.New("kafka: transactions are not supported")
	errBadAcks       = errors.New("kafka: acks must be -1, 0 or 1")
)

func produceErrorCode(err error) int16 {
	switch {
	case errors.Is(err, errTransactional):
		return kerr.TransactionalIDAuthorizationFailed.Code
	case errors.Is(err, errBadAcks):
		return kerr.InvalidRequiredAcks.Code
	}
	return errorCode(err)
}
