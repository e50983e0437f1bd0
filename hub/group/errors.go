package group

import "errors"

// Errors, mapped one to one to Kafka error codes by hub/kafka.
var (
	ErrUnknownMember         = errors.New("group: unknown member")
	ErrIllegalGeneration     = errors.New("group: illegal generation")
	ErrRebalanceInProgress   = errors.New("group: rebalance in progress")
	ErrInconsistentProtocol  = errors.New("group: inconsistent group protocol")
	ErrInvalidSessionTimeout = errors.New("group: invalid session timeout")
	ErrMemberIDRequired      = errors.New("group: member ID required")
	ErrNonEmptyGroup         = errors.New("group: group is not empty")
	ErrGroupNotFound         = errors.New("group: group not found")
	ErrGroupFull             = errors.New("group: group is full")
	ErrClosed                = errors.New("group: coordinator closed")
)
