package agent

import (
	"strings"
	"testing"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/edgelog/edgelog/record"
)

// FuzzPublishChecks: whatever passes the agent's client-ID and publish
// checks must encode as a record (a publish accepted at the door is never
// refused later for its content), and the checks never panic.
func FuzzPublishChecks(f *testing.F) {
	f.Add("dev-1", "telemetry/dev-1/temp", "application/json", "k", "v", uint8(1), []byte("21.5"))
	f.Add("", "", "", "", "", uint8(0), []byte(nil))
	f.Add("d", "$SYS/x", strings.Repeat("c", 300), "k", strings.Repeat("v", 2000), uint8(70), []byte{0xff})
	f.Add("ü", "a/+/b", "\xff", "\x00", "", uint8(3), []byte("x"))
	f.Fuzz(func(t *testing.T, id, topic, ctype, key, val string, nprops uint8, payload []byte) {
		pk := packets.Packet{TopicName: topic, Payload: payload}
		pk.Properties.ContentType = ctype
		for range int(nprops) {
			pk.Properties.User = append(pk.Properties.User, packets.UserProperty{Key: key, Val: val})
		}
		idErr := checkClientID(id)
		_, pubErr := checkPublish(&pk)
		if idErr != nil || pubErr != nil {
			return
		}
		_, err := record.Encode(&record.Record{ClientID: id, Topic: topic, QoS: 1, ContentType: ctype,
			UserProps: userProps(pk.Properties.User), Payload: payload})
		if err != nil {
			t.Fatalf("accepted publish does not encode: %v (id %q topic %q)", err, id, topic)
		}
	})
}
