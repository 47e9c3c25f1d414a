#pragma once
// Closed-form steady-state MRI signal equations (magnitude, in units of PD: a fully relaxed
// tissue of PD 1 read with a 90-degree pulse at TE = 0 gives 1). docs/physics.md derives them;
// tests/physics/signal_reference.py checks them by simulating the pulse events directly.
#include <string>

#include "medsynth/physics/tissue_table.h"

namespace medsynth::physics {

enum class SequenceType { kSpinEcho, kGradientEcho, kInversionRecovery, kFlair, kMprage };

std::string to_string(SequenceType t);             // "se", "gre", "ir", "flair", "mprage"
SequenceType sequence_type_from_string(const std::string& name);  // UsageError listing the names

struct Sequence {
  SequenceType type = SequenceType::kMprage;
  double tr = 2300;    // ms; MPRAGE: time between inversions
  double te = 2.98;    // ms
  double ti = 900;     // ms; IR/FLAIR: inversion to excitation; MPRAGE: inversion to the centre readout
  double flip = 9;     // degrees (gre and mprage; se/ir/flair use 90/180)
  // MPRAGE readout: pulses per inversion (the partitions of one k-space line) and their spacing
  // (ms). The centre of k-space is read at pulse echo_train_length / 2 (linear ordering).
  int echo_train_length = 176;
  double echo_spacing = 7.1;
};

// Defaults for a sequence type at a field (docs/physics.md lists them). The TI of ir and flair
// nulls CSF of `table` at their TR and TE (magnitude images: before every tissue's null the
// order of T1 weighting is reversed).
Sequence default_sequence(SequenceType type, const TissueTable& table);

// "" when the timing is consistent, else the problem (TE >= TR, TI >= TR, MPRAGE readout not
// fitting between inversion and TR, ...).
std::string check_sequence(const Sequence& s);

// The signal of one tissue (magnitude; PD-weighted). The sequence must pass check_sequence().
double signal(const Sequence& s, const TissueParameters& p);

// The spin-echo inversion time that nulls a tissue of longitudinal relaxation t1 (ms).
double null_inversion_time(double t1, double tr, double te);

}  // namespace medsynth::physics
