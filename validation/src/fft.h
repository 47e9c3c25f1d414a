#pragma once
// A radix-2 complex FFT (iterative Cooley-Tukey, decimation in time) for the in-plane spectrum
// of the sharpness figure. Sizes are powers of two; callers zero-pad. Forward transform with
// numpy's sign convention, F(k) = sum_n x(n) exp(-2 pi i k n / N), unnormalised.
#include <cmath>
#include <complex>
#include <cstddef>
#include <utility>
#include <vector>

namespace medsynth::validation::detail {

// The smallest power of two >= n (1 for n = 0).
inline std::size_t next_power_of_two(std::size_t n) {
  std::size_t p = 1;
  while (p < n) p <<= 1;
  return p;
}

class Fft {
 public:
  explicit Fft(std::size_t n) : n_(n), reversed_(n), twiddles_(n / 2) {
    std::size_t bits = 0;
    while ((std::size_t{1} << bits) < n) ++bits;
    for (std::size_t i = 0; i < n; ++i) {
      std::size_t r = 0;
      for (std::size_t b = 0; b < bits; ++b) r |= ((i >> b) & 1u) << (bits - 1 - b);
      reversed_[i] = r;
    }
    const double pi = std::acos(-1.0);
    for (std::size_t k = 0; k < n / 2; ++k)
      twiddles_[k] = std::polar(1.0, -2.0 * pi * static_cast<double>(k) / static_cast<double>(n));
  }

  std::size_t size() const { return n_; }

  // In place on n contiguous values.
  void forward(std::complex<double>* x) const {
    for (std::size_t i = 0; i < n_; ++i)
      if (i < reversed_[i]) std::swap(x[i], x[reversed_[i]]);
    for (std::size_t len = 2; len <= n_; len <<= 1) {
      const std::size_t half = len / 2, step = n_ / len;
      for (std::size_t start = 0; start < n_; start += len)
        for (std::size_t j = 0; j < half; ++j) {
          const std::complex<double> t = twiddles_[j * step] * x[start + j + half];
          x[start + j + half] = x[start + j] - t;
          x[start + j] += t;
        }
    }
  }

 private:
  std::size_t n_;
  std::vector<std::size_t> reversed_;
  std::vector<std::complex<double>> twiddles_;
};

}  // namespace medsynth::validation::detail
