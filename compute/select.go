package compute

import "math"

// ArgmaxProbRow is Selector's ArgmaxProb for one row of logits, computed on
// the host: the first column of the row's largest value other than exclude
// (−1 for none), and that column's softmax probability over the whole row
// in float64, rounded toward zero. Backends without a fused selection, and
// the CPU backend's, use it.
func ArgmaxProbRow(row []float32, exclude int) (id int, p float32) {
	best := -1
	m := float32(math.Inf(-1))
	for i, v := range row {
		m = max(m, v) // the softmax is over the whole row
		if i != exclude && (best < 0 || v > row[best]) {
			best = i
		}
	}
	if best < 0 {
		return -1, 0
	}
	var s float64
	for _, v := range row {
		s += math.Exp(float64(v) - float64(m))
	}
	return best, towardZero(math.Exp(float64(row[best])-float64(m)) / s)
}

// towardZero rounds a non-negative p to float32 toward zero.
func towardZero(p float64) float32 {
	f := float32(p)
	if float64(f) > p {
		f = math.Nextafter32(f, 0)
	}
	return f
}

// GumbelSelector samples masked diffusion's tokens on the device with the
// Gumbel-max trick, as LLaDA's generate() does (add_gumbel_noise, float64),
// so that only ids and probabilities cross to the host.
type GumbelSelector interface {
	// GumbelArgmaxProb writes, for each row r of logits (n × V), the
	// column GumbelArgmaxProbRow picks with the row's key keys[r][0] (low
	// word) | keys[r][1] << 32 and its softmax probability over the row as
	// ArgmaxProb's; ids n × 1 I32, probs n × 1 F32, keys n × 2 I32;
	// temperature finite and > 0.
	GumbelArgmaxProb(ids, probs, logits, keys Tensor, exclude int, temperature float64)
}

// GumbelNoise is the standard Gumbel variate −log(−log u) of column i of a
// row whose key is key: u from SplitMix64's output function of
// key + (i + 1)·0x9e3779b97f4a7c15 (SplitMix64's own sequence for a state
// of key), its top 53 bits plus a half in float64 (rounded to even from
// 2^52 up), times 2^−53. So u is never 0 (2^−54 at the least), but it is 1
// where the top 53 bits are all ones, one column in 2^53: that column's
// noise is +Inf, and it wins its row. A counter-based stream: any
// column's noise is computed alone, by the host or a device (whose log,
// like math.Log on another CPU, may differ in the last ulp: a draw then
// differs only where two columns' noisy values lie within rounding).
func GumbelNoise(key uint64, i int) float64 {
	z := key + uint64(i+1)*0x9e3779b97f4a7c15
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	z ^= z >> 31
	u := (float64(z>>11) + 0.5) / (1 << 53)
	return -math.Log(-math.Log(u))
}

// GumbelArgmaxRow is the column of row maximising l + temperature·g in
// float64 (the product and the sum each rounded on its own: no fused
// multiply-add), g = GumbelNoise(key, column), the first on ties, never
// exclude (−1 for none; −1 is returned when exclude is the only column): a
// draw from softmax(row/temperature). At temperature 0 it is the argmax.
func GumbelArgmaxRow(row []float32, exclude int, key uint64, temperature float64) int {
	best, bestV := -1, math.Inf(-1)
	for i, l := range row {
		if i == exclude {
			continue
		}
		v := float64(l)
		if temperature != 0 {
			// The conversion rounds the product: Go may not fuse it into
			// the sum (arm64 and GOAMD64=v3 would), nor may the device.
			v += float64(temperature * GumbelNoise(key, i))
		}
		if best < 0 || v > bestV {
			best, bestV = i, v
		}
	}
	return best
}

// GumbelArgmaxProbRow is GumbelSelector's GumbelArgmaxProb for one row on
// the host: GumbelArgmaxRow's column and its softmax probability over the
// whole (noiseless) row as ArgmaxProbRow computes it, float64 rounded
// toward zero.
func GumbelArgmaxProbRow(row []float32, exclude int, key uint64, temperature float64) (id int, p float32) {
	best := GumbelArgmaxRow(row, exclude, key, temperature)
	if best < 0 {
		return -1, 0
	}
	m := float32(math.Inf(-1))
	for _, v := range row {
		m = max(m, v)
	}
	var s float64
	for _, v := range row {
		s += math.Exp(float64(v) - float64(m))
	}
	return best, towardZero(math.Exp(float64(row[best])-float64(m)) / s)
}
