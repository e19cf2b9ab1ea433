// The BAM / HDMNet / CyCTR protocols' host side (protocol_bam.cpp), for protocol.cpp.
#pragma once

#include <difss/data/episodes.hpp>
#include <difss/data/protocols.hpp>

#include <cstdint>
#include <vector>

#include "difss/core/pipeline.hpp"

namespace difss {
namespace data {
class Dataset;
}
namespace detail {

// The test script's settings (episodes, seeds, workers, val_size) for the pipeline's protocol and
// dataset kind (coco20i: the COCO configs; otherwise PASCAL's).
data::BamFamilySettings bam_settings(const Pipeline& p);

// The evaluation seeds: BAM's five / HDMNet's ten from val_manual_seed 123, CyCTR's manual_seed
// (123 PASCAL, 321 COCO), or the one written as [pipeline] seed.
std::vector<std::uint32_t> bam_seeds(const Pipeline& p);

// BAM's test episodes for every evaluation seed, one after the other (seed k: episodes k * n ..
// k * n + n - 1), as indices into the dataset; ConfigErrors name the key.
std::vector<data::Episode> bam_episodes(const Pipeline& p, const data::Dataset& ds);

}  // namespace detail
}  // namespace difss
