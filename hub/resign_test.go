package hub

import (
	"encoding/binary"
	"hash/crc32"
)

// resign sets a batch's producer epoch and base sequence and recomputes its
// CRC, as an idempotent producer builds it.
func resign(b []byte, epoch int16, seq int32) []byte {
	binary.BigEndian.PutUint16(b[51:], uint16(epoch))
	binary.BigEndian.PutUint32(b[53:], uint32(seq))
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}
