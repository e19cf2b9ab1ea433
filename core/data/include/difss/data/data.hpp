// Everything of difss_data: datasets, splits, episodes, metrics, the aux-support store.
#pragma once

#include "difss/data/atomic_file.hpp"
#include "difss/data/aux_store.hpp"
#include "difss/data/class_names.hpp"
#include "difss/data/dataset.hpp"
#include "difss/data/dataset_check.hpp"
#include "difss/data/episode_file.hpp"
#include "difss/data/episodes.hpp"
#include "difss/data/image_io.hpp"
#include "difss/data/metrics.hpp"
#include "difss/data/protocols.hpp"
#include "difss/data/reference_rng.hpp"
#include "difss/data/splits.hpp"
