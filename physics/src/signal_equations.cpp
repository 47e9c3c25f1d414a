#include "medsynth/physics/signal_equations.h"

#include <cmath>
#include <sstream>

#include "medsynth/error.h"

namespace medsynth::physics {
namespace {

constexpr double kPi = 3.14159265358979323846;

// 90 at 0, 180 at TE/2, repeated every TR: Mz before the 90 is 1 - 2 e^-(TR-TE/2)/T1 + e^-TR/T1.
double spin_echo(const Sequence& s, const TissueParameters& p) {
  const double mz = 1 - 2 * std::exp(-(s.tr - s.te / 2) / p.t1) + std::exp(-s.tr / p.t1);
  return p.pd * std::abs(mz) * std::exp(-s.te / p.t2);
}

// Spoiled gradient echo (FLASH) in steady state: the Ernst equation with T2* decay.
double gradient_echo(const Sequence& s, const TissueParameters& p) {
  const double a = s.flip * kPi / 180, e1 = std::exp(-s.tr / p.t1);
  return p.pd * std::sin(a) * (1 - e1) / (1 - std::cos(a) * e1) * std::exp(-s.te / p.t2star);
}

// 180 at 0, spin echo (90 at TI, 180 at TI + TE/2) read out, repeated every TR.
double inversion_recovery(const Sequence& s, const TissueParameters& p) {
  const double mz = 1 - 2 * std::exp(-s.ti / p.t1) + 2 * std::exp(-(s.tr - s.te / 2) / p.t1) - std::exp(-s.tr / p.t1);
  return p.pd * std::abs(mz) * std::exp(-s.te / p.t2);
}

// MPRAGE: inversion, delay TA, N pulses of flip a every tau (spoiled), delay TD, next inversion.
// In the train Mz relaxes towards M* = (1 - E1)/(1 - cos a E1) by (cos a E1) per pulse; solving
// the cycle for the steady state gives Mz before the first pulse (Deichmann et al. 2000 give the
// same closed form); the signal is that of the pulse at the centre of k-space.
double mprage(const Sequence& s, const TissueParameters& p) {
  const int n = s.echo_train_length, centre = n / 2;
  const double a = s.flip * kPi / 180, tau = s.echo_spacing;
  const double ta = s.ti - centre * tau, td = s.tr - ta - n * tau;
  const double e1 = std::exp(-tau / p.t1), ea = std::exp(-ta / p.t1), ed = std::exp(-td / p.t1);
  const double r = std::cos(a) * e1, m_star = (1 - e1) / (1 - r), q = std::pow(r, n);
  // Mz0 = 1 - EA + EA * (-(1 - ED + ED * (M* (1 - q) + Mz0 q)))
  const double mz0 = (1 - 2 * ea + ea * ed - ea * ed * m_star * (1 - q)) / (1 + ea * ed * q);
  const double mz_centre = m_star + (mz0 - m_star) * std::pow(r, centre);
  return p.pd * std::sin(a) * std::abs(mz_centre) * std::exp(-s.te / p.t2star);
}

}  // namespace

std::string to_string(SequenceType t) {
  switch (t) {
    case SequenceType::kSpinEcho: return "se";
    case SequenceType::kGradientEcho: return "gre";
    case SequenceType::kInversionRecovery: return "ir";
    case SequenceType::kFlair: return "flair";
    case SequenceType::kMprage: return "mprage";
  }
  return "?";
}

SequenceType sequence_type_from_string(const std::string& name) {
  for (SequenceType t : {SequenceType::kSpinEcho, SequenceType::kGradientEcho, SequenceType::kInversionRecovery,
                         SequenceType::kFlair, SequenceType::kMprage}) {
    if (to_string(t) == name) return t;
  }
  throw UsageError("unknown sequence '" + name + "' (known: se, gre, ir, flair, mprage)");
}

double null_inversion_time(double t1, double tr, double te) {
  // 1 - 2 e^-TI/T1 + 2 e^-(TR-TE/2)/T1 - e^-TR/T1 = 0
  return t1 * std::log(2 / (1 + 2 * std::exp(-(tr - te / 2) / t1) - std::exp(-tr / t1)));
}

Sequence default_sequence(SequenceType type, const TissueTable& table) {
  Sequence s;
  s.type = type;
  switch (type) {
    case SequenceType::kSpinEcho:  // T2-weighted
      s.tr = 4000, s.te = 100, s.ti = 0, s.flip = 90;
      break;
    case SequenceType::kGradientEcho:  // Colin27's acquisition (Holmes et al. 1998): 1.5 T FFE
      s.tr = 18, s.te = 10, s.ti = 0, s.flip = 30;
      break;
    case SequenceType::kInversionRecovery:  // T1-weighted IR ("T1-FLAIR"): CSF nulled at a short TR
      s.tr = 2000, s.te = 10, s.flip = 90;
      s.ti = null_inversion_time(table.at("csf").t1, s.tr, s.te);
      break;
    case SequenceType::kFlair:
      s.tr = 9000, s.te = 120, s.flip = 90;
      s.ti = null_inversion_time(table.at("csf").t1, s.tr, s.te);
      break;
    case SequenceType::kMprage:  // ADNI-like 3 T MPRAGE
      s.tr = 2300, s.te = 2.98, s.ti = 900, s.flip = 9, s.echo_train_length = 176, s.echo_spacing = 7.1;
      break;
  }
  return s;
}

std::string check_sequence(const Sequence& s) {
  std::ostringstream os;
  if (!(s.tr > 0) || !(s.te >= 0) || !(s.ti >= 0)) return "TR must be > 0 and TE, TI >= 0";
  if (!(s.flip > 0 && s.flip <= 180)) return "flip angle must be in (0, 180] degrees";
  switch (s.type) {
    case SequenceType::kSpinEcho:
      if (s.te >= s.tr) os << "TE " << s.te << " ms must be shorter than TR " << s.tr << " ms";
      break;
    case SequenceType::kGradientEcho:
      if (s.te >= s.tr) os << "TE " << s.te << " ms must be shorter than TR " << s.tr << " ms";
      break;
    case SequenceType::kInversionRecovery:
    case SequenceType::kFlair:
      if (s.ti + s.te >= s.tr) os << "TI + TE (" << s.ti + s.te << " ms) must be shorter than TR " << s.tr << " ms";
      break;
    case SequenceType::kMprage: {
      if (s.echo_train_length < 1) return "the echo train length must be >= 1";
      if (!(s.echo_spacing > 0)) return "the echo spacing must be > 0 ms";
      if (s.te >= s.echo_spacing) {
        os << "TE " << s.te << " ms must be shorter than the echo spacing " << s.echo_spacing << " ms";
        break;
      }
      const int centre = s.echo_train_length / 2;
      const double ta = s.ti - centre * s.echo_spacing, td = s.tr - ta - s.echo_train_length * s.echo_spacing;
      if (ta < 0) {
        os << "TI " << s.ti << " ms is shorter than the half echo train before the centre (" << centre << " x "
           << s.echo_spacing << " ms): lower --etl or --esp, or raise --ti";
      } else if (td < 0) {
        os << "the echo train (" << s.echo_train_length << " x " << s.echo_spacing << " ms) starting at "
           << ta << " ms ends after TR " << s.tr << " ms: lower --etl or --esp, or raise --tr";
      }
      break;
    }
  }
  return os.str();
}

double signal(const Sequence& s, const TissueParameters& p) {
  if (p.pd == 0) return 0;
  switch (s.type) {
    case SequenceType::kSpinEcho: return spin_echo(s, p);
    case SequenceType::kGradientEcho: return gradient_echo(s, p);
    case SequenceType::kInversionRecovery:
    case SequenceType::kFlair: return inversion_recovery(s, p);
    case SequenceType::kMprage: return mprage(s, p);
  }
  return 0;
}

}  // namespace medsynth::physics
