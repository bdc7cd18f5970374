#include "kernels/rope.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace edgerun {

namespace {

// HF _compute_yarn_parameters: blend interpolated and extrapolated frequencies with a linear
// ramp between the dimensions whose wavelength matches beta_fast and beta_slow rotations.
void yarn(const RopeParams& p, double dim, std::vector<float>& inv_freq, float* attention_factor,
          const std::string& where) {
  double factor = p.factor;
  if (p.original_context <= 0) fail(where, "yarn rope scaling needs original_max_position_embeddings");
  if (p.max_position > 0) factor = double(p.max_position) / double(p.original_context);
  auto get_mscale = [](double scale, double m) { return scale <= 1 ? 1.0 : 0.1 * m * std::log(scale) + 1.0; };
  double af;
  if (p.attention_factor > 0) af = p.attention_factor;
  else if (p.mscale > 0 && p.mscale_all_dim > 0)
    af = get_mscale(factor, p.mscale) / get_mscale(factor, p.mscale_all_dim);
  else af = get_mscale(factor, 1.0);
  auto correction_dim = [&](double rotations) {
    return dim * std::log(double(p.original_context) / (rotations * 2 * M_PI)) / (2 * std::log(p.theta));
  };
  double low = correction_dim(p.beta_fast), high = correction_dim(p.beta_slow);
  if (p.truncate) {
    low = std::floor(low);
    high = std::ceil(high);
  }
  low = std::max(low, 0.0);
  high = std::min(high, dim - 1);
  if (low == high) high += 0.001;
  for (size_t i = 0; i < inv_freq.size(); ++i) {
    const double ramp = std::clamp((double(i) - low) / (high - low), 0.0, 1.0);
    const double extrapolation_weight = 1.0 - ramp;
    const double f = inv_freq[i];
    inv_freq[i] = float(f / factor * (1 - extrapolation_weight) + f * extrapolation_weight);
  }
  *attention_factor = float(af);
}

// Llama 3.1 frequency-dependent scaling (HF _compute_llama3_parameters).
void llama3(const RopeParams& p, std::vector<float>& inv_freq, const std::string& where) {
  if (p.original_context <= 0) fail(where, "llama3 rope scaling needs original_max_position_embeddings");
  const double low_wavelen = double(p.original_context) / p.low_freq_factor;
  const double high_wavelen = double(p.original_context) / p.high_freq_factor;
  for (float& f : inv_freq) {
    const double wavelen = 2 * M_PI / f;
    if (wavelen < high_wavelen) continue;
    if (wavelen > low_wavelen) {
      f = float(f / p.factor);
    } else {
      const double smooth = (double(p.original_context) / wavelen - p.low_freq_factor) /
                            (p.high_freq_factor - p.low_freq_factor);
      f = float((1 - smooth) * f / p.factor + smooth * f);
    }
  }
}

}  // namespace

bool rope_type_supported(const std::string& type) {
  return type == "default" || type == "linear" || type == "llama3" || type == "yarn";
}

float QueryTemperature::factor(int64_t pos) const {
  if (!enabled()) return 1.0f;
  return float(1.0 + beta * std::log(1.0 + std::floor(double(pos) / double(interval))));
}

RopeTable make_rope_table(const RopeParams& p, bool interleaved, const std::string& where) {
  if (p.rotary_dim <= 0 || p.rotary_dim % 2) fail(where, "rotary dimension must be a positive even number");
  if (p.rotary_dim > 1024) fail(where, "rotary dimension above 1024 is not supported");
  if (!(p.theta > 0)) fail(where, "rope_theta must be positive");
  RopeTable t;
  t.interleaved = interleaved;
  const int64_t half = p.rotary_dim / 2;
  t.inv_freq.resize(size_t(half));
  for (int64_t i = 0; i < half; ++i)  // computed as HF does: theta^(arange(0,d,2)/d) in f32
    t.inv_freq[i] = float(1.0 / std::pow(p.theta, double(float(2 * i) / float(p.rotary_dim))));
  if (!rope_type_supported(p.type))
    fail(where, "rope scaling type '" + p.type + "' is not supported (supported: default, linear, llama3, yarn)");
  if (p.type == "default") {
  } else if (p.type == "linear") {
    if (!(p.factor > 0)) fail(where, "linear rope scaling needs a positive factor");
    t.position_scale = 1.0 / p.factor;
  } else if (p.type == "yarn") {
    yarn(p, double(p.rotary_dim), t.inv_freq, &t.attention_factor, where);
  } else if (p.type == "llama3") {
    llama3(p, t.inv_freq, where);
  }
  return t;
}

void apply_rope(const RopeTable& t, float* x, int64_t n_heads, int64_t head_dim, int64_t pos) {
  const int64_t half = int64_t(t.inv_freq.size());
  const float position = float(double(pos) * t.position_scale);
  float cs[512], sn[512];
  for (int64_t i = 0; i < half && i < 512; ++i) {
    const float angle = position * t.inv_freq[i];  // f32 product, as HF computes freqs
    cs[i] = std::cos(angle) * t.attention_factor;
    sn[i] = std::sin(angle) * t.attention_factor;
  }
  for (int64_t h = 0; h < n_heads; ++h) {
    float* v = x + h * head_dim;
    for (int64_t i = 0; i < half; ++i) {
      const int64_t a = t.interleaved ? 2 * i : i;
      const int64_t b = t.interleaved ? 2 * i + 1 : i + half;
      const float x0 = v[a], x1 = v[b];
      v[a] = x0 * cs[i] - x1 * sn[i];
      v[b] = x1 * cs[i] + x0 * sn[i];
    }
  }
}

}  // namespace edgerun
