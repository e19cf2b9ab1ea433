// Include this instead of <catch2/catch.hpp> in tests that also use LibTorch.
//
// Debian's LibTorch is built with glog, whose logging header defines CHECK, CHECK_EQ, ... which
// collide with Catch2's macros. ATen goes first; glog's names are then dropped so that Catch2's
// definitions win. Tests use Catch2's CHECK/REQUIRE only.
#pragma once
#include <ATen/ATen.h>
#undef CHECK
#undef CHECK_EQ
#undef CHECK_NE
#undef CHECK_LT
#undef CHECK_LE
#undef CHECK_GT
#undef CHECK_GE
#undef CHECK_NOTNULL
#include <catch2/catch.hpp>
