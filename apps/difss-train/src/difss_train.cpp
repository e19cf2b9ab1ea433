// difss-train <diffusion|fss> [options]: the same as `difss-host train ...`.
#include <difss/train/train.hpp>

int main(int argc, char** argv) { return difss::train::run_train(argc - 1, argv + 1); }
