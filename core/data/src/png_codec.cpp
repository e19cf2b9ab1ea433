// libpng glue. libpng reports errors by longjmp; every C++ object that lives across setjmp is
// declared before it (so no destructor is skipped) and errors become exceptions afterwards.
#include "png_codec.hpp"

#include <png.h>

#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <memory>
#include <stdexcept>

#include "difss/data/image_io.hpp"

namespace difss::data::detail {
namespace {

struct ErrorText {
  char text[256] = {0};
};

void on_png_error(png_structp png, png_const_charp msg) {
  auto* err = static_cast<ErrorText*>(png_get_error_ptr(png));
  if (err) std::snprintf(err->text, sizeof(err->text), "%s", msg ? msg : "libpng error");
  png_longjmp(png, 1);
}
void on_png_warning(png_structp, png_const_charp) {}

struct FileCloser {
  void operator()(std::FILE* f) const { if (f) std::fclose(f); }
};

struct ReadGuard {
  png_structp png = nullptr;
  png_infop info = nullptr;
  ~ReadGuard() { if (png) png_destroy_read_struct(&png, info ? &info : nullptr, nullptr); }
};

// Returns false with err filled on a libpng error.
bool decode(std::FILE* fp, RawPng& out, std::vector<png_bytep>& rows, ReadGuard& g, ErrorText& err) {
  if (setjmp(png_jmpbuf(g.png))) return false;
  png_set_user_limits(g.png, 1u << 16, 1u << 16);
  png_init_io(g.png, fp);
  png_read_info(g.png, g.info);
  png_uint_32 w = 0, h = 0;
  int bit_depth = 0, color_type = 0, interlace = 0;
  png_get_IHDR(g.png, g.info, &w, &h, &bit_depth, &color_type, &interlace, nullptr, nullptr);
  if (static_cast<std::int64_t>(w) * static_cast<std::int64_t>(h) > kMaxImagePixels) {
    std::snprintf(err.text, sizeof(err.text), "image of %ux%u pixels is larger than the %lld-pixel limit",
                  static_cast<unsigned>(w), static_cast<unsigned>(h),
                  static_cast<long long>(kMaxImagePixels));
    return false;
  }
  if (bit_depth < 8) png_set_packing(g.png);  // 1/2/4-bit: one byte per value, not rescaled
  if (bit_depth == 16) png_set_swap(g.png);   // to native (little) endian
  png_set_interlace_handling(g.png);
  png_read_update_info(g.png, g.info);
  out.width = static_cast<int>(w);
  out.height = static_cast<int>(h);
  out.bit_depth = bit_depth;
  out.color_type = color_type;
  out.channels = png_get_channels(g.png, g.info);
  out.sixteen = bit_depth == 16;
  const std::size_t rowbytes = png_get_rowbytes(g.png, g.info);
  const std::size_t expect = static_cast<std::size_t>(out.width) * out.channels * (out.sixteen ? 2 : 1);
  if (rowbytes != expect) {
    std::snprintf(err.text, sizeof(err.text), "unexpected row size %zu (expected %zu)", rowbytes, expect);
    return false;
  }
  out.pixels.resize(rowbytes * h);
  rows.resize(h);
  for (png_uint_32 y = 0; y < h; ++y) rows[y] = out.pixels.data() + y * rowbytes;
  png_read_image(g.png, rows.data());
  png_read_end(g.png, nullptr);
  return true;
}

struct WriteGuard {
  png_structp png = nullptr;
  png_infop info = nullptr;
  ~WriteGuard() { if (png) png_destroy_write_struct(&png, info ? &info : nullptr); }
};

void write_to_vector(png_structp png, png_bytep data, png_size_t len) {
  auto* v = static_cast<std::vector<unsigned char>*>(png_get_io_ptr(png));
  v->insert(v->end(), data, data + len);
}
void flush_nothing(png_structp) {}

bool encode(std::vector<unsigned char>& out, int width, int height, const std::uint8_t* data,
            std::size_t stride, const std::vector<png_color>& pal, WriteGuard& g) {
  if (setjmp(png_jmpbuf(g.png))) return false;
  png_set_write_fn(g.png, &out, write_to_vector, flush_nothing);
  png_set_IHDR(g.png, g.info, static_cast<png_uint_32>(width), static_cast<png_uint_32>(height), 8,
               PNG_COLOR_TYPE_PALETTE, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  png_set_PLTE(g.png, g.info, pal.data(), static_cast<int>(pal.size()));
  png_write_info(g.png, g.info);
  for (int y = 0; y < height; ++y)
    png_write_row(g.png, const_cast<png_bytep>(data + static_cast<std::size_t>(y) * stride));
  png_write_end(g.png, nullptr);
  return true;
}

}  // namespace

RawPng read_png(const std::filesystem::path& path) {
  std::unique_ptr<std::FILE, FileCloser> fp(std::fopen(path.c_str(), "rb"));
  if (!fp) throw std::runtime_error("cannot open PNG '" + path.string() + "': " + std::strerror(errno));
  unsigned char sig[8] = {0};
  if (std::fread(sig, 1, 8, fp.get()) != 8 || png_sig_cmp(sig, 0, 8) != 0)
    throw std::runtime_error("'" + path.string() + "' is not a PNG file (bad signature)");
  RawPng out;
  ErrorText err;
  std::vector<png_bytep> rows;
  ReadGuard g;
  g.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &err, on_png_error, on_png_warning);
  if (!g.png) throw std::runtime_error("libpng: out of memory reading '" + path.string() + "'");
  g.info = png_create_info_struct(g.png);
  if (!g.info) throw std::runtime_error("libpng: out of memory reading '" + path.string() + "'");
  png_set_sig_bytes(g.png, 8);
  if (!decode(fp.get(), out, rows, g, err))
    throw std::runtime_error("cannot decode PNG '" + path.string() + "': " + err.text);
  return out;
}

std::vector<unsigned char> encode_palette_png(int width, int height, const std::uint8_t* data,
                                              std::size_t stride,
                                              const std::vector<std::uint8_t>& palette_rgb) {
  std::vector<png_color> pal(palette_rgb.size() / 3);
  for (std::size_t i = 0; i < pal.size(); ++i)
    pal[i] = png_color{palette_rgb[3 * i], palette_rgb[3 * i + 1], palette_rgb[3 * i + 2]};
  if (pal.empty() || pal.size() > 256) throw std::invalid_argument("a PNG palette needs 1..256 colours");
  std::vector<unsigned char> out;
  ErrorText err;
  WriteGuard g;
  g.png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &err, on_png_error, on_png_warning);
  if (!g.png) throw std::runtime_error("libpng: out of memory");
  g.info = png_create_info_struct(g.png);
  if (!g.info) throw std::runtime_error("libpng: out of memory");
  if (!encode(out, width, height, data, stride, pal, g))
    throw std::runtime_error(std::string("PNG encoding failed: ") + err.text);
  return out;
}

}  // namespace difss::data::detail
