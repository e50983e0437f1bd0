package tests

import (
	"encoding/binary"
	"io"
	"net"
	"time"
)

// Hand-built MQTT packets for hostile-input tests: each builder returns the
// exact bytes, malformed on purpose where the caller wants it.

// varint is MQTT's remaining-length encoding.
func varint(n int) []byte {
	var b []byte
	for {
		d := byte(n % 128)
		n /= 128
		if n > 0 {
			d |= 0x80
		}
		b = append(b, d)
		if n == 0 {
			return b
		}
	}
}

// mqttStr is a length-prefixed string field.
func mqttStr(s string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, uint16(len(s))), s...)
}

// packet is a fixed header with the right remaining length, then body.
func packet(first byte, body ...[]byte) []byte {
	var all []byte
	for _, b := range body {
		all = append(all, b...)
	}
	return append(append([]byte{first}, varint(len(all))...), all...)
}

// connect311 is a valid MQTT 3.1.1 CONNECT with a clean session.
func connect311(clientID string) []byte {
	return packet(0x10, mqttStr("MQTT"), []byte{4, 0x02, 0, 60}, mqttStr(clientID))
}

// connect5 is an MQTT 5 CONNECT whose property section is props (its
// length prefix included, so it can lie).
func connect5(clientID string, props []byte) []byte {
	return packet(0x10, mqttStr("MQTT"), []byte{5, 0x02, 0, 60}, props, mqttStr(clientID))
}

// publish311 is a QoS 1 PUBLISH (topic given as raw bytes).
func publish311(topic []byte, id uint16, payload []byte) []byte {
	t := append(binary.BigEndian.AppendUint16(nil, uint16(len(topic))), topic...)
	return packet(0x32, t, binary.BigEndian.AppendUint16(nil, id), payload)
}

// rawMQTT sends each chunk over a fresh TCP connection to addr, then reads
// whatever the server answers until it closes the connection or wait
// passes. It returns the bytes read.
func rawMQTT(addr string, wait time.Duration, chunks ...[]byte) ([]byte, error) {
	nc, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(wait))
	for _, c := range chunks {
		if _, err := nc.Write(c); err != nil {
			break // the server hung up: fine
		}
	}
	b, _ := io.ReadAll(io.LimitReader(nc, 1<<20))
	return b, nil
}
