package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// Readings of the four streams. Their field names are the payload's.
type (
	envReading struct {
		TempC       float64 `json:"temp_c" cbor:"temp_c"`
		Humidity    float64 `json:"humidity" cbor:"humidity"`
		PressureHPa float64 `json:"pressure_hpa" cbor:"pressure_hpa"`
	}
	counterReading struct {
		Count  uint64 `json:"count" cbor:"count"`
		Uptime int64  `json:"uptime_s" cbor:"uptime_s"`
	}
	gpsReading struct {
		Lat      float64 `json:"lat" cbor:"lat"`
		Lon      float64 `json:"lon" cbor:"lon"`
		SpeedKmh float64 `json:"speed_kmh" cbor:"speed_kmh"`
		Heading  float64 `json:"heading" cbor:"heading"`
		Sats     uint8   `json:"sats" cbor:"sats"`
	}
	logReading struct {
		Level string `json:"level" cbor:"level"`
		Msg   string `json:"msg" cbor:"msg"`
	}
)

// models holds one device's sensor state. Only the device's goroutine
// touches it; all randomness comes from the device's own generator, so a
// seed reproduces a device's readings.
type models struct {
	rng       *rand.Rand
	dayLength time.Duration
	born      time.Time // device clock at first sample

	// env: a daily sine plus mean-reverting noise
	baseTemp, amp, tempNoise, humNoise, pressure float64
	lastEnv                                      time.Time
	// counter: Poisson pulses
	count   uint64
	lambda  float64 // pulses per second
	lastCnt time.Time
	// gps: a vehicle wandering around its start
	lat, lon, speed, heading float64
	stoppedUntil, lastGPS    time.Time
}

func newModels(rng *rand.Rand, dayLength time.Duration) *models {
	return &models{
		rng:       rng,
		dayLength: dayLength,
		baseTemp:  15 + 10*rng.Float64(),
		amp:       3 + 5*rng.Float64(),
		pressure:  1013 + 10*rng.NormFloat64(),
		lambda:    0.5 + 20*rng.Float64(),
		lat:       52.52 + (rng.Float64() - 0.5),
		lon:       13.40 + (rng.Float64() - 0.5),
		speed:     40,
		heading:   360 * rng.Float64(),
	}
}

// elapsed is the device-clock time since last, capped (the first sample
// and a long sleep count as one minute) so the walks stay bounded.
func elapsed(last, now time.Time) float64 {
	if last.IsZero() {
		return 1
	}
	return math.Min(math.Max(now.Sub(last).Seconds(), 0), 60)
}

// ou advances an Ornstein-Uhlenbeck process towards 0.
func (m *models) ou(x, theta, sigma, dt float64) float64 {
	return x - theta*x*dt + sigma*math.Sqrt(dt)*m.rng.NormFloat64()
}

func (m *models) env(now time.Time) envReading {
	dt := elapsed(m.lastEnv, now)
	m.lastEnv = now
	frac := float64(now.UnixNano()%int64(m.dayLength)) / float64(m.dayLength)
	daily := m.amp * math.Sin(2*math.Pi*(frac-0.375)) // warmest at 15:00
	m.tempNoise = m.ou(m.tempNoise, 0.05, 0.2, dt)
	m.humNoise = m.ou(m.humNoise, 0.05, 0.8, dt)
	m.pressure = 1013 + m.ou(m.pressure-1013, 0.001, 0.05, dt)
	temp := m.baseTemp + daily + m.tempNoise
	hum := math.Min(math.Max(60-2*daily+m.humNoise, 5), 100)
	return envReading{TempC: round(temp, 2), Humidity: round(hum, 1), PressureHPa: round(m.pressure, 1)}
}

func (m *models) counter(now time.Time) counterReading {
	if m.born.IsZero() {
		m.born = now
	}
	dt := elapsed(m.lastCnt, now)
	m.lastCnt = now
	m.count += m.poisson(m.lambda * dt)
	return counterReading{Count: m.count, Uptime: int64(now.Sub(m.born).Seconds())}
}

func (m *models) poisson(mean float64) uint64 {
	if mean > 30 { // normal approximation
		return uint64(math.Max(0, math.Round(mean+math.Sqrt(mean)*m.rng.NormFloat64())))
	}
	l, k, p := math.Exp(-mean), uint64(0), 1.0
	for {
		p *= m.rng.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

func (m *models) gps(now time.Time) gpsReading {
	dt := elapsed(m.lastGPS, now)
	m.lastGPS = now
	switch {
	case now.Before(m.stoppedUntil):
		m.speed = 0
	case m.rng.Float64() < 0.01: // traffic light, delivery stop
		m.stoppedUntil = now.Add(time.Duration(5+m.rng.IntN(60)) * time.Second)
		m.speed = 0
	default:
		if m.speed == 0 {
			m.speed = 10
		}
		m.speed = math.Min(math.Max(45+m.ou(m.speed-45, 0.1, 3, dt), 0), 130)
		m.heading = math.Mod(m.heading+8*math.Sqrt(dt)*m.rng.NormFloat64()+360, 360)
	}
	dist := m.speed / 3.6 * dt // metres
	rad := m.heading * math.Pi / 180
	m.lat += dist * math.Cos(rad) / 111320
	m.lon += dist * math.Sin(rad) / (111320 * math.Cos(m.lat*math.Pi/180))
	return gpsReading{Lat: round(m.lat, 6), Lon: round(m.lon, 6), SpeedKmh: round(m.speed, 1),
		Heading: round(m.heading, 1), Sats: uint8(6 + m.rng.IntN(8))}
}

// Log levels, most frequent first.
const (
	levelDebug = "debug"
	levelInfo  = "info"
	levelWarn  = "warn"
	levelError = "error"
)

func (m *models) log() logReading {
	r := m.rng.Float64()
	switch {
	case r < 0.05:
		msgs := []string{
			fmt.Sprintf("i2c bus timeout on addr 0x%02x", 0x40+m.rng.IntN(16)),
			fmt.Sprintf("sensor read failed: crc mismatch (got %04x)", m.rng.IntN(0x10000)),
			"modem did not answer AT within 2000 ms",
		}
		return logReading{levelError, msgs[m.rng.IntN(len(msgs))]}
	case r < 0.15:
		msgs := []string{
			fmt.Sprintf("battery low: %d%%", 5+m.rng.IntN(15)),
			fmt.Sprintf("wifi rssi weak: %d dBm", -90+m.rng.IntN(10)),
			fmt.Sprintf("flash wear level %d%%", 70+m.rng.IntN(30)),
		}
		return logReading{levelWarn, msgs[m.rng.IntN(len(msgs))]}
	case r < 0.50:
		msgs := []string{
			fmt.Sprintf("uplink ok, rtt %d ms", 20+m.rng.IntN(300)),
			fmt.Sprintf("battery %d%%", 20+m.rng.IntN(80)),
			"config reloaded",
		}
		return logReading{levelInfo, msgs[m.rng.IntN(len(msgs))]}
	}
	return logReading{levelDebug, fmt.Sprintf("adc raw=%d vref=%d", m.rng.IntN(4096), 3300)}
}

func round(x float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(x*p) / p
}

// deviceClock is a device's idea of the time: off by a fixed offset and
// running fast or slow by drift (parts per million).
type deviceClock struct {
	start  time.Time // real time at boot (monotonic)
	offset time.Duration
	drift  float64 // e.g. 150e-6
}

func newClock(rng *rand.Rand, maxOffset time.Duration, maxPPM float64) deviceClock {
	c := deviceClock{start: time.Now()}
	if maxOffset > 0 {
		c.offset = time.Duration((2*rng.Float64() - 1) * float64(maxOffset))
	}
	c.drift = (2*rng.Float64() - 1) * maxPPM * 1e-6
	return c
}

func (c deviceClock) now() time.Time {
	real := time.Since(c.start)
	return c.start.Add(c.offset + real + time.Duration(float64(real)*c.drift))
}
