// The report's three planes: canonical plane cuts in display orientation from the direction
// matrix, the plane montages, and the embedded viewer as headless chromium runs it on real volumes.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <iostream>
#include <map>
#include <regex>
#include <sstream>

#include "medsynth/io/volume_io.h"
#include "medsynth/validation/png_montage.h"
#include "medsynth/validation/report_viewer.h"
#include "test_util.h"
#include "validation_fixtures.h"

using namespace medsynth;
using namespace medsynth::test;
using namespace medsynth::validation;

namespace {

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Width and height from a PNG's IHDR chunk.
std::pair<unsigned, unsigned> png_size(const std::string& path) {
  const std::string b = read_text(path);
  if (b.size() < 24 || b.compare(1, 3, "PNG") != 0) return {0, 0};
  auto be32 = [&](std::size_t at) {
    return (unsigned(static_cast<unsigned char>(b[at])) << 24) | (unsigned(static_cast<unsigned char>(b[at + 1])) << 16) |
           (unsigned(static_cast<unsigned char>(b[at + 2])) << 8) | unsigned(static_cast<unsigned char>(b[at + 3]));
  };
  return {be32(16), be32(20)};
}

// A volume whose index axes are permuted and flipped against LPS: index axis c points along
// physical axis axis_of[c] (0 L, 1 P, 2 S), towards R, A or I where negative[c]. Voxel value:
// 1 + x + 10 y + 100 z of its canonical position (x to L, y to P, z to S), so every cut can be
// checked against where its pixels must be.
io::Volume oriented_volume(const std::array<int, 3>& axis_of, const std::array<bool, 3>& negative,
                           const std::array<std::size_t, 3>& canonical_size) {
  io::Volume v;
  v.geometry.direction = {0, 0, 0, 0, 0, 0, 0, 0, 0};
  for (std::size_t c = 0; c < 3; ++c) {
    const auto a = static_cast<std::size_t>(axis_of[c]);
    v.geometry.size[c] = canonical_size[a];
    v.geometry.direction[3 * a + c] = negative[c] ? -1 : 1;
  }
  v.voxels.resize(v.geometry.voxel_count());
  for (std::size_t k = 0; k < v.geometry.size[2]; ++k)
    for (std::size_t j = 0; j < v.geometry.size[1]; ++j)
      for (std::size_t i = 0; i < v.geometry.size[0]; ++i) {
        const std::size_t idx[3] = {i, j, k};
        std::array<std::size_t, 3> p{};
        for (std::size_t c = 0; c < 3; ++c) {
          const auto a = static_cast<std::size_t>(axis_of[c]);
          p[a] = negative[c] ? v.geometry.size[c] - 1 - idx[c] : idx[c];
        }
        v.at(i, j, k) = static_cast<float>(1 + p[0] + 10 * p[1] + 100 * p[2]);
      }
  return v;
}

RunResult chromium(const std::string& html, const std::string& flags, const TempDir& profile) {
  return run("chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run "
             "--disable-background-networking --disable-component-update --disable-sync --user-data-dir=" +
                 profile.str("profile") + " --enable-logging=stderr --v=0 " + flags + " file://" + html,
             120);
}

// The attributes of every <canvas> in a dumped DOM, in page order.
std::vector<std::map<std::string, std::string>> canvases(const std::string& dom) {
  std::vector<std::map<std::string, std::string>> out;
  const std::regex tag("<canvas([^>]*)>"), attr("([a-z-]+)=\"([^\"]*)\"");
  for (auto it = std::sregex_iterator(dom.begin(), dom.end(), tag); it != std::sregex_iterator(); ++it) {
    const std::string a = (*it)[1];
    std::map<std::string, std::string> m;
    for (auto jt = std::sregex_iterator(a.begin(), a.end(), attr); jt != std::sregex_iterator(); ++jt) m[(*jt)[1]] = (*jt)[2];
    out.push_back(m);
  }
  return out;
}

}  // namespace

TEST(ReportViewer, PlaneCutsAreUprightAndRadiologicalForAnyAxisOrder) {
  const std::array<std::size_t, 3> n{5, 6, 7};  // canonical size along L, P, S
  // RAS (as ch2.nii.gz), LPS, a sagittal acquisition (index axes P, I, L) and a coronal one (L, S, A).
  const std::vector<std::pair<std::array<int, 3>, std::array<bool, 3>>> cases = {
      {{0, 1, 2}, {true, true, false}},
      {{0, 1, 2}, {false, false, false}},
      {{1, 2, 0}, {false, true, false}},
      {{0, 2, 1}, {false, true, true}}};
  for (const auto& [axis_of, negative] : cases) {
    SCOPED_TRACE(std::to_string(axis_of[0]) + std::to_string(axis_of[1]) + std::to_string(axis_of[2]) +
                 (negative[0] ? "-" : "+") + (negative[1] ? "-" : "+") + (negative[2] ? "-" : "+"));
    const io::Volume v = oriented_volume(axis_of, negative, n);
    const CanonicalAxes c = oriented_axes(v.geometry);
    for (std::size_t a = 0; a < 3; ++a) {
      EXPECT_EQ(axis_of[static_cast<std::size_t>(c.index_axis[a])], static_cast<int>(a));
      EXPECT_EQ(c.flipped[a], negative[static_cast<std::size_t>(c.index_axis[a])]);
    }
    // Canonical position (x L, y P, z S) of the voxel at index `at` along the plane's normal.
    auto canonical = [&](Plane p, std::size_t at) {
      const auto a = static_cast<std::size_t>(plane_normal(p));
      return c.flipped[a] ? n[a] - 1 - at : at;
    };
    // Axial: anterior (y = 0) at the top, the patient's left (x = max) on the right.
    for (std::size_t k = 0; k < n[2]; ++k) {
      const PlaneCut cut = plane_cut(v, Plane::kAxial, k);
      const std::size_t z = canonical(Plane::kAxial, k);
      ASSERT_EQ(cut.slice.width, n[0]);
      ASSERT_EQ(cut.slice.height, n[1]);
      for (std::size_t y = 0; y < n[1]; ++y)
        for (std::size_t x = 0; x < n[0]; ++x) ASSERT_EQ(cut.slice.at(x, y), 1 + x + 10 * y + 100 * z) << x << "," << y;
    }
    // Sagittal: superior at the top, anterior on the left.
    for (std::size_t i = 0; i < n[0]; ++i) {
      const PlaneCut cut = plane_cut(v, Plane::kSagittal, i);
      const std::size_t x = canonical(Plane::kSagittal, i);
      ASSERT_EQ(cut.slice.width, n[1]);
      ASSERT_EQ(cut.slice.height, n[2]);
      for (std::size_t r = 0; r < n[2]; ++r)
        for (std::size_t col = 0; col < n[1]; ++col)
          ASSERT_EQ(cut.slice.at(col, r), 1 + x + 10 * col + 100 * (n[2] - 1 - r)) << col << "," << r;
    }
    // Coronal: superior at the top, the patient's left on the right.
    for (std::size_t j = 0; j < n[1]; ++j) {
      const PlaneCut cut = plane_cut(v, Plane::kCoronal, j);
      const std::size_t y = canonical(Plane::kCoronal, j);
      ASSERT_EQ(cut.slice.width, n[0]);
      ASSERT_EQ(cut.slice.height, n[2]);
      for (std::size_t r = 0; r < n[2]; ++r)
        for (std::size_t col = 0; col < n[0]; ++col)
          ASSERT_EQ(cut.slice.at(col, r), 1 + col + 10 * y + 100 * (n[2] - 1 - r)) << col << "," << r;
    }
    // A slice along the third index axis is shown as its own plane's cut.
    const auto normal = static_cast<std::size_t>(axis_of[2]);
    const Plane own = normal == 2 ? Plane::kAxial : normal == 0 ? Plane::kSagittal : Plane::kCoronal;
    EXPECT_EQ(display_oriented(slice_of(v, 3), v.geometry).pixels, plane_cut(v, own, 3).slice.pixels);
  }
}

TEST(ReportViewer, SquarePixelsStretchTheCoarserAxis) {
  PlaneCut c;
  c.slice.width = 4;
  c.slice.height = 2;
  c.slice.pixels = {1, 2, 3, 4, 5, 6, 7, 8};
  c.pixel_width_mm = 1;
  c.pixel_height_mm = 3;
  const Slice s = square_pixels(c);
  ASSERT_EQ(s.width, 4u);
  ASSERT_EQ(s.height, 6u);
  EXPECT_EQ(s.at(2, 2), 3);
  EXPECT_EQ(s.at(2, 3), 7);
  c.pixel_height_mm = 1;
  EXPECT_EQ(square_pixels(c).pixels, c.slice.pixels);
}

TEST(ReportViewer, ViewerVolumesAreCanonicalCroppedAndDownsampledOnlyWhenLarge) {
  const io::Volume bet = io::read_volume(data_file(kTemplates + "ch2bet.nii.gz", "mricron-data"));
  const auto [lo, hi] = io::intensity_range(bet);
  const ViewerVolumes v = make_viewer_volumes(bet, bet, lo, hi - lo, 10);
  EXPECT_EQ(v.factor, 1u);
  // The brain's box is smaller than the grid, and holds the brain with a margin.
  for (std::size_t a = 0; a < 3; ++a) {
    EXPECT_LT(v.size[a], bet.geometry.size[a]) << a;
    EXPECT_GT(v.size[a], bet.geometry.size[a] / 2) << a;
    EXPECT_EQ(v.spacing[a], 1.0) << a;
  }
  EXPECT_EQ(v.real, v.synthetic);
  // ch2bet is RAS: canonical x (to L) runs against index i. Voxel (x, y, z) of the viewer is
  // the real grid's (i, j, k) = (nx-1-(x0+x), ny-1-(y0+y), z0+z).
  const double L = hi - lo;
  std::size_t checked = 0;
  for (std::size_t z = 0; z < v.size[2]; z += 17)
    for (std::size_t y = 0; y < v.size[1]; y += 13)
      for (std::size_t x = 0; x < v.size[0]; x += 11, ++checked) {
        const float r = bet.at(bet.geometry.size[0] - 1 - (v.crop_begin[0] + x), bet.geometry.size[1] - 1 - (v.crop_begin[1] + y),
                               v.crop_begin[2] + z);
        ASSERT_EQ(v.real[x + v.size[0] * (y + v.size[1] * z)], std::lround((r - lo) / L * 255)) << x << "," << y << "," << z;
      }
  EXPECT_GT(checked, 500u);
  // Over the limit: averaged over 2^3 blocks, with twice the spacing.
  const ViewerVolumes small = make_viewer_volumes(bet, bet, lo, hi - lo, 10, v.real.size() / 4);
  EXPECT_EQ(small.factor, 2u);
  for (std::size_t a = 0; a < 3; ++a) {
    EXPECT_EQ(small.size[a], (v.size[a] + 1) / 2);
    EXPECT_EQ(small.spacing[a], 2.0);
  }
  EXPECT_LE(small.real.size(), v.real.size() / 4);
  // What report.json records holds no voxels.
  EXPECT_LT(viewer_json(v).dump().size(), 1000u);
}

// ch2bet as the real volume, a perturbed copy as the synthetic one (written with a header
// string that must not reach the page), through `medsynth evaluate`, opened in headless chromium.
TEST(ReportViewer, EmbeddedViewerDrawsThreePlanesInHeadlessChromiumFromRealVolumes) {
  TempDir tmp;
  const io::Volume bet = io::read_volume(data_file(kTemplates + "ch2bet.nii.gz", "mricron-data"));
  io::Volume syn = perturbed(bet, 5.0, 3);
  const std::string canary = "header-canary-5d1e";
  syn.metadata["synthetic"] = canary;
  const std::string syn_path = write_float(syn, tmp.str("synthetic.nii.gz"));
  ASSERT_NE(read_text(syn_path).size(), 0u);
  EXPECT_EQ(io::read_volume(syn_path).metadata.at("synthetic"), canary);  // the header does hold it
  const std::string out = tmp.str("report");
  auto r = run_medsynth("evaluate --real " + kTemplates + "ch2bet.nii.gz --synthetic " + syn_path + " --out " + out);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(read_text(out + "/report.json"));

  // Three cuts per plane, each montage real | synthetic | difference with square pixels.
  const auto& planes = j["images"]["planes"];
  const std::map<std::string, std::pair<std::size_t, std::size_t>> cut_size = {
      {"axial", {181, 217}}, {"sagittal", {217, 181}}, {"coronal", {181, 181}}};
  const std::map<std::string, std::string> letter = {{"axial", "k"}, {"sagittal", "i"}, {"coronal", "j"}};
  for (const auto& [plane, wh] : cut_size) {
    SCOPED_TRACE(plane);
    ASSERT_TRUE(planes.contains(plane));
    EXPECT_EQ(planes[plane]["index_axis"], letter.at(plane));
    ASSERT_EQ(planes[plane]["cuts"].size(), 3u);
    for (const auto& c : planes[plane]["cuts"]) {
      const auto [w, h] = png_size(out + "/" + c["image"].get<std::string>());
      ASSERT_GT(h, 0u) << c["image"];
      EXPECT_EQ(h % wh.second, 0u) << h;
      EXPECT_EQ(w, (3 * wh.first + 8) * (h / wh.second)) << w << "x" << h;
    }
  }
  // The existing montages keep their names.
  EXPECT_TRUE(fs::exists(out + "/" + j["images"]["montages"][0]["image"].get<std::string>()));

  const std::string html = read_text(out + "/report.html");
  std::cout << "report.html for ch2bet: " << html.size() << " bytes\n";
  EXPECT_LT(html.size(), 20u << 20);
  EXPECT_EQ(html.find("http://"), std::string::npos);
  EXPECT_EQ(html.find("https://"), std::string::npos);
  EXPECT_FALSE(std::regex_search(html, std::regex("<script[^>]*\\bsrc=")));
  EXPECT_FALSE(std::regex_search(html, std::regex("(src|href)=\"(?!images/)")));
  EXPECT_EQ(html.find(canary), std::string::npos) << "a header string of the synthetic file is on the page";
  EXPECT_EQ(read_text(out + "/report.json").find(canary), std::string::npos);

  // After the script ran (virtual time lets the asynchronous inflate finish before the dump).
  TempDir profile;
  auto dom = chromium(out + "/report.html", "--virtual-time-budget=20000 --dump-dom", profile);
  ASSERT_EQ(dom.exit_code, 0) << "chromium (package chromium): " << dom.err;
  std::smatch status;
  ASSERT_TRUE(std::regex_search(dom.out, status, std::regex("id=\"msv\" data-status=\"([^\"]*)\""))) << dom.out.substr(0, 2000);
  EXPECT_EQ(status[1], "ready");
  for (const std::string& line : {std::string(":CONSOLE"), std::string("Uncaught")})
    EXPECT_EQ(dom.err.find(line), std::string::npos) << dom.err;
  const auto cs = canvases(dom.out);
  ASSERT_EQ(cs.size(), 9u);
  // Canvas sizes follow the embedded box and its spacing: one scale for all planes, 320 px for
  // the longest extent.
  const auto& vj = j["images"]["viewer"];
  const auto size = vj["size_lps"].get<std::array<std::size_t, 3>>();
  const auto spacing = vj["spacing_mm_lps"].get<std::array<double, 3>>();
  double extent = 0;
  for (std::size_t a = 0; a < 3; ++a) extent = std::max(extent, static_cast<double>(size[a]) * spacing[a]);
  auto px = [&](std::size_t a) { return std::to_string(std::lround(static_cast<double>(size[a]) * spacing[a] * 320 / extent)); };
  const std::array<std::pair<std::size_t, std::size_t>, 3> wh = {{{0, 1}, {1, 2}, {0, 2}}};  // axial, sagittal, coronal
  const char* kinds[] = {"real", "synthetic", "difference"};
  for (std::size_t i = 0; i < 9; ++i) {
    SCOPED_TRACE("canvas " + std::to_string(i));
    EXPECT_EQ(cs[i].at("data-kind"), kinds[i % 3]);
    EXPECT_EQ(cs[i].at("width"), px(wh[i / 3].first));
    EXPECT_EQ(cs[i].at("height"), px(wh[i / 3].second));
    // Drawn: the brain fills a good part of each mid cut; the perturbed copy differs almost everywhere in it.
    ASSERT_TRUE(cs[i].count("data-lit"));
    EXPECT_GT(std::stod(cs[i].at("data-lit")), 0.25) << cs[i].at("data-lit");
  }

  // Wheel, click and slider as a user gives them, dispatched on a copy of the page once it is ready.
  const char* kInteract = R"JS(<script>
(function poll() {
  if (document.getElementById('msv').dataset.status !== 'ready') { setTimeout(poll, 50); return; }
  const plane = (name) => document.querySelector('.msv-plane[data-plane="' + name + '"]');
  const pos = (name) => plane(name).querySelector('.msv-pos').textContent;
  const canvas = (name, kind) => plane(name).querySelector('canvas[data-kind="' + kind + '"]');
  const out = {start: pos('axial')};
  canvas('axial', 'real').dispatchEvent(new WheelEvent('wheel', {deltaY: -100, bubbles: true, cancelable: true}));
  out.wheel = pos('axial');
  out.lit = canvas('axial', 'real').dataset.lit;
  const level = document.getElementById('msv-level');
  level.value = level.max;
  level.dispatchEvent(new Event('input'));
  out.lit_high_level = canvas('axial', 'real').dataset.lit;
  const c = canvas('sagittal', 'synthetic'), r = c.getBoundingClientRect();
  const at = {clientX: r.left + 1, clientY: r.top + 1, pointerId: 1, bubbles: true};
  c.dispatchEvent(new PointerEvent('pointerdown', at));
  c.dispatchEvent(new PointerEvent('pointerup', at));
  out.click_axial = pos('axial');
  out.click_coronal = pos('coronal');
  const pre = document.createElement('pre');
  pre.id = 'interaction';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
</script>)JS";
  std::string interactive = html;
  interactive.insert(interactive.rfind("</body>"), kInteract);
  std::ofstream(out + "/interactive.html", std::ios::binary) << interactive;
  auto act = chromium(out + "/interactive.html", "--virtual-time-budget=20000 --dump-dom", profile);
  std::smatch m;
  ASSERT_TRUE(std::regex_search(act.out, m, std::regex("<pre id=\"interaction\">([^<]*)</pre>"))) << act.err;
  const auto ia = nlohmann::json::parse(std::string(m[1]));
  const std::string nz = std::to_string(size[2]), ny = std::to_string(size[1]);
  EXPECT_NE(ia["start"].get<std::string>().find("(" + std::to_string(size[2] / 2 + 1) + " of " + nz + ")"), std::string::npos) << ia;
  EXPECT_NE(ia["wheel"].get<std::string>().find("(" + std::to_string(size[2] / 2 + 2) + " of " + nz + ")"), std::string::npos) << ia;
  // The sagittal cut's top-left corner is the most superior, most anterior voxel.
  EXPECT_NE(ia["click_axial"].get<std::string>().find("(" + nz + " of " + nz + ")"), std::string::npos) << ia;
  EXPECT_NE(ia["click_coronal"].get<std::string>().find("(1 of " + ny + ")"), std::string::npos) << ia;
  // A level at the top of the range darkens the brain.
  EXPECT_LT(std::stod(ia["lit_high_level"].get<std::string>()), std::stod(ia["lit"].get<std::string>())) << ia;
  EXPECT_EQ(act.err.find("Uncaught"), std::string::npos) << act.err;

  // The same page with a corrupted volume says so instead of drawing.
  std::string broken = html;
  const auto at = broken.find("id=\"msv-real\">");
  ASSERT_NE(at, std::string::npos);
  broken.replace(at + 14, 40, std::string(40, 'A'));
  std::ofstream(out + "/broken.html", std::ios::binary) << broken;
  auto bad = chromium(out + "/broken.html", "--virtual-time-budget=20000 --dump-dom", profile);
  EXPECT_NE(bad.out.find("data-status=\"error: "), std::string::npos);
}
