package kafka

import (
	"context"
	"sort"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// API keys the hub serves.
const (
	produceKey          int16 = 0
	fetchKey            int16 = 1
	listOffsetsKey      int16 = 2
	metadataKey         int16 = 3
	offsetCommitKey     int16 = 8
	offsetFetchKey      int16 = 9
	findCoordinatorKey  int16 = 10
	joinGroupKey        int16 = 11
	heartbeatKey        int16 = 12
	leaveGroupKey       int16 = 13
	syncGroupKey        int16 = 14
	describeGroupsKey   int16 = 15
	listGroupsKey       int16 = 16
	saslHandshakeKey    int16 = 17
	apiVersionsKey      int16 = 18
	createTopicsKey     int16 = 19
	deleteTopicsKey     int16 = 20
	initProducerIDKey   int16 = 22
	describeConfigsKey  int16 = 32
	saslAuthenticateKey int16 = 36
)

// handlerFunc runs the first part of a request on the reader goroutine
// (validation, anything whose order matters, such as appends) and returns
// the rest.
type handlerFunc func(ctx context.Context, c *conn, h header, req kmsg.Request) respondFunc

// api is one served API: the versions advertised in ApiVersions, all of
// them implemented. Versions stop below those that identify topics by ID.
type api struct {
	name     string
	min, max int16
	handle   handlerFunc
	preAuth  bool // allowed before SASL authentication
}

var apis map[int16]api

func init() {
	apis = map[int16]api{
		produceKey:          {name: "Produce", min: 3, max: 9, handle: handleProduce},
		fetchKey:            {name: "Fetch", min: 4, max: 12, handle: handleFetch},
		listOffsetsKey:      {name: "ListOffsets", min: 1, max: 6, handle: handleListOffsets},
		metadataKey:         {name: "Metadata", min: 0, max: 9, handle: handleMetadata},
		offsetCommitKey:     {name: "OffsetCommit", min: 2, max: 8, handle: handleOffsetCommit},
		offsetFetchKey:      {name: "OffsetFetch", min: 1, max: 7, handle: handleOffsetFetch},
		findCoordinatorKey:  {name: "FindCoordinator", min: 0, max: 3, handle: handleFindCoordinator},
		joinGroupKey:        {name: "JoinGroup", min: 0, max: 7, handle: handleJoinGroup},
		heartbeatKey:        {name: "Heartbeat", min: 0, max: 4, handle: handleHeartbeat},
		leaveGroupKey:       {name: "LeaveGroup", min: 0, max: 4, handle: handleLeaveGroup},
		syncGroupKey:        {name: "SyncGroup", min: 0, max: 5, handle: handleSyncGroup},
		describeGroupsKey:   {name: "DescribeGroups", min: 0, max: 5, handle: handleDescribeGroups},
		listGroupsKey:       {name: "ListGroups", min: 0, max: 4, handle: handleListGroups},
		saslHandshakeKey:    {name: "SaslHandshake", min: 0, max: 1, handle: handleSaslHandshake, preAuth: true},
		apiVersionsKey:      {name: "ApiVersions", min: 0, max: 3, handle: handleApiVersions, preAuth: true},
		createTopicsKey:     {name: "CreateTopics", min: 0, max: 5, handle: handleCreateTopics},
		deleteTopicsKey:     {name: "DeleteTopics", min: 0, max: 5, handle: handleDeleteTopics},
		initProducerIDKey:   {name: "InitProducerID", min: 0, max: 4, handle: handleInitProducerID},
		describeConfigsKey:  {name: "DescribeConfigs", min: 0, max: 4, handle: handleDescribeConfigs},
		saslAuthenticateKey: {name: "SaslAuthenticate", min: 0, max: 2, handle: handleSaslAuthenticate, preAuth: true},
	}
}

// apiKeys returns the served keys in order.
func apiKeys() []int16 {
	keys := make([]int16, 0, len(apis))
	for k := range apis {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	return keys
}

// now wraps a response computed on the reader goroutine.
func now(resp kmsg.Response) respondFunc {
	return func(context.Context) kmsg.Response { return resp }
}
