#pragma once
// Siemens CSA headers: the private (0029,1010) "CSA Image Header Info" element holds the values
// that Siemens keeps out of standard tags (NumberOfImagesInMosaic, SliceNormalVector, B_value).
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace medsynth::io::detail {

// name -> its items as text (numbers are kept as the text Siemens wrote).
using CsaHeader = std::map<std::string, std::vector<std::string>>;

// Parses a CSA1 or CSA2 ("SV10") header. Throws medsynth::Error with `what` naming the problem
// when the bytes are not a CSA header or an item runs past the end.
CsaHeader parse_csa_header(const std::uint8_t* data, std::size_t size);

// The first item of `name` as a number; false when absent or not a number.
bool csa_number(const CsaHeader& h, const std::string& name, double* out);
// The first `n` items of `name` as numbers; false unless all `n` are numbers.
bool csa_numbers(const CsaHeader& h, const std::string& name, double* out, std::size_t n);

}  // namespace medsynth::io::detail
