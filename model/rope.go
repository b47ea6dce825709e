package model

import "math"

// InvFreq returns the RoPE inverse frequencies θ^(−2j/d) for j < d/2, with
// LLaMA-3.1's scaling when set. Like the references it rounds through
// float32: inv_freq is a float32 tensor in both HF transformers and LLaDA.
func (c *Config) InvFreq() []float32 {
	d := c.HeadDim
	inv := make([]float32, d/2)
	base := float32(c.RopeTheta)
	for j := range inv {
		e := float32(2*j) / float32(d)
		inv[j] = float32(1 / float64(float32(math.Pow(float64(base), float64(e)))))
	}
	if s := c.RopeScaling; s != nil {
		// HF's _compute_llama3_parameters: frequencies with a wavelength
		// longer than the original context divide by factor, shorter ones
		// stay, and the band between interpolates smoothly.
		lowWave := float64(s.OriginalMaxPos) / s.LowFreqFactor
		highWave := float64(s.OriginalMaxPos) / s.HighFreqFactor
		for j, f := range inv {
			wave := 2 * math.Pi / float64(f)
			v := float64(f)
			switch {
			case wave > lowWave:
				v = float64(f) / s.Factor
			case wave >= highWave:
				smooth := (float64(s.OriginalMaxPos)/wave - s.LowFreqFactor) / (s.HighFreqFactor - s.LowFreqFactor)
				v = (1-smooth)*float64(f)/s.Factor + smooth*float64(f)
			}
			inv[j] = float32(v)
		}
	}
	return inv
}

// RopeTables returns cos and sin of the angles p·invFreq[j] for positions
// p < maxPos, maxPos × HeadDim/2 each, row-major. The angle is a float32
// product as in the references; cos and sin are rounded from float64.
func (c *Config) RopeTables(maxPos int) (cos, sin []float32) {
	inv := c.InvFreq()
	h := len(inv)
	cos, sin = make([]float32, maxPos*h), make([]float32, maxPos*h)
	scale := 1.0
	if c.RopeScaling != nil && c.RopeScaling.AttentionFactor != 0 {
		scale = c.RopeScaling.AttentionFactor
	}
	for p := range maxPos {
		for j, f := range inv {
			a := float64(float32(p) * f)
			cos[p*h+j] = float32(math.Cos(a) * scale)
			sin[p*h+j] = float32(math.Sin(a) * scale)
		}
	}
	return cos, sin
}
