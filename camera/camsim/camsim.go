// Package camsim is a simulated payload camera serving the Camera Idol
// interface (idl/camera.idol, generated package camera/cameraipc): pictures
// are deterministic byte patterns, so a reader can check every byte it got
// through a lease. The demo (`spacenet demo`), the examples and the tests
// of package ipc/switched serve it through the APID switch.
//
// It is not a camera driver: no hardware, no image format.
package camsim

import (
	"context"
	"sync"

	"spacenet/camera/cameraipc"
	"spacenet/ipc"
)

// ImageSize is the size of every picture, in bytes: more than one 64 KiB
// lease, so reading one takes two read_image calls.
const ImageSize = 100_000

// Pixel is byte i of picture id taken with exposure us: what read_image
// copies out, so that callers can check it.
func Pixel(id, exposureUs uint32, i int) byte {
	return byte(i*7) ^ byte(id*13) ^ byte(exposureUs>>4)
}

// Camera implements cameraipc.CameraServer. The zero value is ready to use.
type Camera struct {
	// Hook, if set, runs at the start of every op with the op's name (tests
	// use it to hold a call in flight).
	Hook func(ctx context.Context, op string)

	mu       sync.Mutex
	pictures [][]byte
	exposure []uint32
	mode     cameraipc.CameraMode
	cal      []byte
	resets   int
}

var _ cameraipc.CameraServer = (*Camera)(nil)

func (c *Camera) hook(ctx context.Context, op string) {
	if c.Hook != nil {
		c.Hook(ctx, op)
	}
}

// Capture takes a picture: exposure must be 1..1_000_000 µs.
func (c *Camera) Capture(ctx context.Context, caller ipc.Caller, exposureUs uint32) (uint32, error) {
	c.hook(ctx, "capture")
	if exposureUs == 0 || exposureUs > 1_000_000 {
		return 0, cameraipc.CameraErrorBadExposure
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	id := uint32(len(c.pictures) + 1)
	p := make([]byte, ImageSize)
	for i := range p {
		p[i] = Pixel(id, exposureUs, i)
	}
	c.pictures = append(c.pictures, p)
	c.exposure = append(c.exposure, exposureUs)
	return id, nil
}

// ReadImage copies picture frameID from offset into sink.
func (c *Camera) ReadImage(ctx context.Context, caller ipc.Caller, frameID, offset uint32, sink []byte) (uint32, error) {
	c.hook(ctx, "read_image")
	c.mu.Lock()
	defer c.mu.Unlock()
	if frameID == 0 || int(frameID) > len(c.pictures) {
		return 0, cameraipc.CameraErrorNoSuchFrame
	}
	p := c.pictures[frameID-1]
	if int(offset) > len(p) {
		return 0, cameraipc.CameraErrorBadOffset
	}
	return uint32(copy(sink, p[offset:])), nil
}

// Status reports the mode and the number of pictures.
func (c *Camera) Status(ctx context.Context, caller ipc.Caller) (cameraipc.CameraStatus, error) {
	c.hook(ctx, "status")
	c.mu.Lock()
	defer c.mu.Unlock()
	return cameraipc.CameraStatus{Mode: c.mode, Frames: uint32(len(c.pictures)), TemperatureMc: -12500}, nil
}

// SetMode switches the mode.
func (c *Camera) SetMode(ctx context.Context, caller ipc.Caller, mode cameraipc.CameraMode) error {
	c.hook(ctx, "set_mode")
	c.mu.Lock()
	c.mode = mode
	c.mu.Unlock()
	return nil
}

// Configure accepts gain up to 64 and binning 1 or 2.
func (c *Camera) Configure(ctx context.Context, caller ipc.Caller, cfg cameraipc.CaptureConfig) (cameraipc.CameraMode, error) {
	c.hook(ctx, "configure")
	if cfg.Gain.Some && cfg.Gain.V > 64 {
		return 0, cameraipc.ConfigError{Variant: cameraipc.ConfigErrorGainOutOfRange, GainOutOfRange: cfg.Gain.V}
	}
	if cfg.Binning != 1 && cfg.Binning != 2 {
		return 0, cameraipc.ConfigError{Variant: cameraipc.ConfigErrorUnsupportedBinning, UnsupportedBinning: cfg.Binning}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mode, nil
}

// Checksum is what UploadCalibration returns for table.
func Checksum(table []byte) uint32 {
	var sum uint32
	for _, b := range table {
		sum = sum*31 + uint32(b)
	}
	return sum
}

// UploadCalibration keeps table and returns its Checksum.
func (c *Camera) UploadCalibration(ctx context.Context, caller ipc.Caller, table []byte) (uint32, error) {
	c.hook(ctx, "upload_calibration")
	c.mu.Lock()
	c.cal = append(c.cal[:0], table...)
	c.mu.Unlock()
	return Checksum(table), nil
}

// Histogram fills bins with the last picture's histogram (bin = byte value
// modulo len(bins)).
func (c *Camera) Histogram(ctx context.Context, caller ipc.Caller, bins []uint32) error {
	c.hook(ctx, "histogram")
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(bins)
	if len(c.pictures) == 0 || len(bins) == 0 {
		return nil
	}
	for _, b := range c.pictures[len(c.pictures)-1] {
		bins[int(b)%len(bins)]++
	}
	return nil
}

// Reset forgets every picture.
func (c *Camera) Reset(ctx context.Context, caller ipc.Caller) error {
	c.hook(ctx, "reset")
	c.mu.Lock()
	c.pictures, c.exposure = nil, nil
	c.resets++
	c.mu.Unlock()
	return nil
}
