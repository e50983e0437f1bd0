package kafka

import (
	"context"
	"errors"

	"github.com/edgelog/edgelog/hub"
	"github.com/edgelog/edgelog/hub/group"
	"github.com/edgelog/edgelog/hub/store"
	"github.com/twmb/franz-go/pkg/kerr"
)

// errorCode maps a hub error to its Kafka error code (0 for nil).
func errorCode(err error) int16 {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, hub.ErrUnknownTopic), errors.Is(err, hub.ErrUnknownPartition), errors.Is(err, store.ErrClosed):
		return kerr.UnknownTopicOrPartition.Code
	case errors.Is(err, hub.ErrInvalidTopic):
		return kerr.InvalidTopicException.Code
	case errors.Is(err, hub.ErrTopicExists):
		return kerr.TopicAlreadyExists.Code
	case errors.Is(err, hub.ErrInvalidPartitions):
		return kerr.InvalidPartitions.Code
	case errors.Is(err, hub.ErrInvalidConfig):
		return kerr.InvalidConfig.Code
	case errors.Is(err, store.ErrOffsetOutOfRange):
		return kerr.OffsetOutOfRange.Code
	case errors.Is(err, store.ErrTooLarge):
		return kerr.MessageTooLarge.Code
	case errors.Is(err, store.ErrBadBatch), errors.Is(err, store.ErrShortBatch):
		return kerr.CorruptMessage.Code
	case errors.Is(err, hub.ErrUnsupportedBatch):
		return kerr.UnsupportedForMessageFormat.Code
	case errors.Is(err, hub.ErrDuplicateSequence):
		return kerr.DuplicateSequenceNumber.Code
	case errors.Is(err, hub.ErrOutOfOrderSequence):
		return kerr.OutOfOrderSequenceNumber.Code
	case errors.Is(err, hub.ErrProducerFenced):
		return kerr.InvalidProducerEpoch.Code
	case errors.Is(err, hub.ErrInvalidProducerID):
		return kerr.InvalidProducerIDMapping.Code
	case errors.Is(err, hub.ErrInvalidGroup):
		return kerr.InvalidGroupID.Code
	case errors.Is(err, group.ErrUnknownMember):
		return kerr.UnknownMemberID.Code
	case errors.Is(err, group.ErrIllegalGeneration):
		return kerr.IllegalGeneration.Code
	case errors.Is(err, group.ErrRebalanceInProgress):
		return kerr.RebalanceInProgress.Code
	case errors.Is(err, group.ErrInconsistentProtocol):
		return kerr.InconsistentGroupProtocol.Code
	case errors.Is(err, group.ErrInvalidSessionTimeout):
		return kerr.InvalidSessionTimeout.Code
	case errors.Is(err, group.ErrMemberIDRequired):
		return kerr.MemberIDRequired.Code
	case errors.Is(err, group.ErrNonEmptyGroup):
		return kerr.NonEmptyGroup.Code
	case errors.Is(err, group.ErrGroupNotFound):
		return kerr.GroupIDNotFound.Code
	case errors.Is(err, group.ErrGroupFull):
		return kerr.GroupMaxSizeReached.Code
	case errors.Is(err, context.DeadlineExceeded):
		return kerr.RequestTimedOut.Code
	case errors.Is(err, hub.ErrClosed), errors.Is(err, context.Canceled):
		return kerr.NotLeaderForPartition.Code
	default:
		return kerr.KafkaStorageError.Code
	}
}

// errorMessage is the message sent with an error code where the response
// has room for one.
func errorMessage(err error) *string {
	if err == nil {
		return nil
	}
	s := err.Error()
	return &s
}
