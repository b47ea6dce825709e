package cuda

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// DeviceInfo describes one visible device.
type DeviceInfo struct {
	Ordinal      int    // among the visible devices (CUDA_VISIBLE_DEVICES applies)
	Name         string // "NVIDIA H100 80GB HBM3"
	UUID         string // GPU-…, as nvidia-smi writes it
	Major, Minor int    // compute capability
	SMs          int
	Memory       int64 // bytes
}

// Report is what Probe found: each library's search, and the devices.
type Report struct {
	Libraries []Library // cuda, cublas, nvrtc, nvml, in that order
	Devices   []DeviceInfo
	Err       error // why the CUDA backend cannot run; nil when it can
}

// MarshalJSON writes Err as its message, empty when the backend can run,
// and each library's as Library.MarshalJSON does.
func (r Report) MarshalJSON() ([]byte, error) {
	type fields Report // Report's fields without this method
	return json.Marshal(struct {
		fields
		Err string // shadows the error
	}{fields(r), errText(r.Err)})
}

// Probe loads every library (once per process) and lists the devices. It
// never fails: what went wrong is in the report, and Err says whether the
// CUDA backend can run (driver, cuBLAS and NVRTC loaded, a device visible).
// NVML is optional: without it only energy and power readings are missing.
func Probe() Report {
	var r Report
	for _, l := range []*library{loadDriver(), loadCUBLAS(), loadNVRTC(), loadNVML()} {
		info := l.info
		info.Attempts = append([]Attempt(nil), info.Attempts...)
		r.Libraries = append(r.Libraries, info)
	}
	var errs []error
	for _, l := range r.Libraries[:3] {
		if l.Err != nil {
			errs = append(errs, l.Err)
		}
	}
	if r.Libraries[0].Err == nil {
		devs, err := devices()
		r.Devices = devs
		if err != nil {
			errs = append(errs, err)
		} else if len(devs) == 0 {
			errs = append(errs, errors.New("cuda: no device visible (is CUDA_VISIBLE_DEVICES empty?)"))
		}
	}
	r.Err = errors.Join(errs...)
	return r
}

func devices() ([]DeviceInfo, error) {
	n, err := DeviceCount()
	if err != nil {
		return nil, err
	}
	var out []DeviceInfo
	for i := range n {
		d, err := GetDevice(i)
		if err != nil {
			return out, err
		}
		info := DeviceInfo{Ordinal: i}
		if info.Name, err = d.Name(); err != nil {
			return out, err
		}
		u, err := d.UUID()
		if err != nil {
			return out, err
		}
		info.UUID = UUIDString(u)
		if info.Major, info.Minor, err = d.ComputeCapability(); err != nil {
			return out, err
		}
		if info.SMs, err = d.Attribute(AttrMultiprocessorCount); err != nil {
			return out, err
		}
		if info.Memory, err = d.TotalMem(); err != nil {
			return out, err
		}
		out = append(out, info)
	}
	return out, nil
}

// String formats the report for people, one library or device a line, with
// every attempt that failed indented below its library.
func (r Report) String() string {
	var b strings.Builder
	for _, l := range r.Libraries {
		switch {
		case l.Err == nil && l.Version != "":
			fmt.Fprintf(&b, "%-7s %s (version %s)\n", l.Name, l.Path, l.Version)
		case l.Err == nil:
			fmt.Fprintf(&b, "%-7s %s\n", l.Name, l.Path)
		default:
			fmt.Fprintf(&b, "%-7s not usable: %v\n", l.Name, l.Err)
		}
		for _, a := range l.Attempts {
			if a.Err != "" {
				fmt.Fprintf(&b, "          tried %s: %s\n", a.Path, a.Err)
			}
		}
		if l.Err != nil && len(l.Searched) > 0 {
			fmt.Fprintf(&b, "          searched without a match: %s\n", strings.Join(l.Searched, ", "))
		}
	}
	for _, d := range r.Devices {
		fmt.Fprintf(&b, "device %d: %s, sm_%d%d, %d SMs, %.1f GiB, %s\n", d.Ordinal, d.Name, d.Major, d.Minor,
			d.SMs, float64(d.Memory)/(1<<30), d.UUID)
	}
	if r.Err != nil {
		fmt.Fprintf(&b, "CUDA backend unavailable: %v\n", r.Err)
	}
	return b.String()
}
