package hub

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/edgelog/edgelog/hub/store"
)

// DataFormat versions the hub's data directory as a whole: the KV's keys and
// values, and the layout of DIR/topics (partition segments hold Kafka v2
// record batches, which carry their own magic byte). A binary opens any
// directory of its own format or older, upgrading it in place if the format
// changed; it refuses a newer one rather than misread it.
const DataFormat = 1

// formatKey holds DataFormat in the KV. A directory without it predates
// versioning and is format 1.
const formatKey = "format"

// ErrNewerFormat is returned by Open for a data directory written by a newer
// edgelog.
var ErrNewerFormat = errors.New("hub: data directory was written by a newer edgelog")

// checkFormat verifies the directory's format and records the current one.
func checkFormat(ctx context.Context, kv *store.KV) error {
	if v, ok := kv.Get(formatKey); ok {
		n, err := strconv.Atoi(string(v))
		if err != nil || n < 1 {
			return fmt.Errorf("hub: data directory format %q is not a version", v)
		}
		if n > DataFormat {
			return fmt.Errorf("%w: format %d, this binary reads up to %d", ErrNewerFormat, n, DataFormat)
		}
		if n == DataFormat {
			return nil
		}
	}
	if err := kv.Put(ctx, store.KVEntry{Key: formatKey, Value: []byte(strconv.Itoa(DataFormat))}); err != nil {
		return fmt.Errorf("hub: record data format: %w", err)
	}
	return nil
}
