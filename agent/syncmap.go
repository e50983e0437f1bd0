package agent

import (
	"sync"
	"sync/atomic"

	"github.com/edgelog/edgelog/devices"
)

// syncMap is a typed sync.Map.
type syncMap[K comparable, V any] struct{ m sync.Map }

func (s *syncMap[K, V]) Store(k K, v V) { s.m.Store(k, v) }
func (s *syncMap[K, V]) Delete(k K)     { s.m.Delete(k) }
func (s *syncMap[K, V]) Range(f func(K, V) bool) {
	s.m.Range(func(k, v any) bool { return f(k.(K), v.(V)) })
}

// atomicRegistry holds the current device registry.
type atomicRegistry = atomic.Pointer[devices.Registry]
