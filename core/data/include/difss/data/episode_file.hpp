// Fixed episode lists, so that two tools (or two runs) are compared on the very same episodes.
//
// Two formats are read:
//   JSON   a difss-episodes document (what every run writes as run_dir/episodes.json, see
//          episodes.hpp). Entries give sample indices ("query", "supports", checked against
//          "query_name"/"support_names" when present) or only the names ("class_id",
//          "query_name", "support_names"), which are looked up in the dataset.
//   text   one episode per line, "CLASS<TAB>QUERY<TAB>SUPPORT;SUPPORT;..." with the names as
//          the official code spells them (canonical_text in protocols.hpp: HSNet's ".jpg"
//          suffixes are accepted); empty lines and lines starting with '#' are skipped.
// A file whose first non-blank character is '{' is JSON, anything else text.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "difss/data/episodes.hpp"

namespace difss::data {

class Dataset;

// The episodes of `file` as indices into `dataset.samples()`, renumbered 0..n-1 in file order.
// Throws std::runtime_error naming the file and the line / entry that cannot be used.
std::vector<Episode> read_episode_file(const Dataset& dataset, const std::filesystem::path& file);

// The same from text already read; `source` names it in messages.
std::vector<Episode> parse_episode_list(const Dataset& dataset, const std::string& text,
                                        const std::string& source);

}  // namespace difss::data
