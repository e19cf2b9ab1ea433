// Image/mask reading conventions, nearest resize, atomic writes.
#include <catch2/catch.hpp>

#include <fstream>

#include "data_test_util.hpp"
#include "difss/data/atomic_file.hpp"
#include "difss/data/image_io.hpp"
#include "difss/data/splits.hpp"
#include "shared_data.hpp"

using namespace difss::data;
using difss::test::count_value;
using difss::test::TempDir;

TEST_CASE("VOC palette PNGs are read as class indices, not colours", "[data][io][shared]") {
  DIFSS_REQUIRE_SHARED("data/voc-sample");
  const auto png = difss::test::shared_dir() / "data/voc-sample/SegmentationClassPNG/2011_000003.png";
  const cv::Mat labels = read_label_png(png);
  REQUIRE(labels.type() == CV_8UC1);
  REQUIRE(labels.cols == 500);
  REQUIRE(labels.rows == 338);
  // Pixel values checked with /usr/bin/python3: np.array(PIL.Image.open(png))[y, x].
  CHECK(labels.at<std::uint8_t>(212, 273) == 15);  // person
  CHECK(labels.at<std::uint8_t>(187, 371) == 5);   // bottle
  CHECK(labels.at<std::uint8_t>(307, 402) == 255); // boundary
  CHECK(labels.at<std::uint8_t>(0, 0) == 0);
  // np.unique(a, return_counts=True): {0: 125767, 5: 873, 15: 32900, 255: 9460}
  const auto h = label_histogram(labels);
  CHECK(h[0] == 125767);
  CHECK(h[5] == 873);
  CHECK(h[15] == 32900);
  CHECK(h[255] == 9460);
  CHECK(h[0] + h[5] + h[15] + h[255] == 500 * 338);
  // OpenCV's imread would give the palette colour (192,128,128) at a person pixel instead.
  const cv::Mat bgr = cv::imread(png.string());
  CHECK(bgr.at<cv::Vec3b>(212, 273) != cv::Vec3b(15, 15, 15));
}

TEST_CASE("binary masks: 0/1 and palette encodings of the shared samples", "[data][io][shared]") {
  SECTION("FSS-1000 sample masks hold 0/1 (RGB PNG)") {
    DIFSS_REQUIRE_SHARED("data/fss1000-sample");
    const cv::Mat m = read_binary_mask(difss::test::shared_dir() / "data/fss1000-sample/eiffel_tower/1.png");
    CHECK(m.size() == cv::Size(224, 224));
    // RGB PNG with 0/1 per channel; PIL convert('L') == 1 on 900 pixels.
    CHECK(count_value(m, 1) == 900);
    CHECK(count_value(m, 0) == 224 * 224 - 900);
  }
  SECTION("PerSAM palette masks: index 1 is the object") {
    DIFSS_REQUIRE_SHARED("data/persam");
    const cv::Mat m = read_binary_mask(difss::test::shared_dir() / "data/persam/cat_00.png");
    CHECK(m.size() == cv::Size(1282, 1282));
    // index counts {0: 1175634, 1: 467890}; PIL's convert('L') would make index 1 grey 38,
    // which HSNet's >= 128 rule would turn into background.
    CHECK(count_value(m, 1) == 467890);
  }
}

TEST_CASE("binary masks: 0/255 grey masks threshold at 128", "[data][io]") {
  TempDir tmp;
  cv::Mat g = difss::test::label_runs(10, 10, {{0, 20}, {255, 30}, {127, 10}, {128, 5}});
  cv::imwrite((tmp / "m.png").string(), g);
  const cv::Mat m = read_binary_mask(tmp / "m.png");
  CHECK(count_value(m, 1) == 35);  // 30 x 255 + 5 x 128; 127 stays background
  CHECK(count_value(m, 0) == 65);
}

TEST_CASE("label PNG writer round-trips indices", "[data][io]") {
  TempDir tmp;
  const cv::Mat labels = difss::test::label_runs(7, 5, {{0, 3}, {1, 4}, {20, 5}, {255, 6}, {3, 2}});
  write_label_png(tmp / "sub/l.png", labels);
  const cv::Mat back = read_label_png(tmp / "sub/l.png");
  CHECK(cv::countNonZero(back != labels) == 0);
  CHECK(voc_palette()[1] == std::array<std::uint8_t, 3>{128, 0, 0});
  CHECK(voc_palette()[15] == std::array<std::uint8_t, 3>{192, 128, 128});
  // A colour PNG is not a label map.
  cv::imwrite((tmp / "rgb.png").string(), cv::Mat(4, 4, CV_8UC3, cv::Scalar(1, 2, 3)));
  CHECK_THROWS_WITH(read_label_png(tmp / "rgb.png"), Catch::Contains("rgb.png") && Catch::Contains("colour PNG"));
}

TEST_CASE("corrupt and missing files raise errors naming the path", "[data][io]") {
  TempDir tmp;
  difss::test::write_text(tmp / "bad.png", "\x89PNG\r\n\x1a\n garbage that is no PNG");
  CHECK_THROWS_WITH(read_label_png(tmp / "bad.png"), Catch::Contains("bad.png"));
  difss::test::write_text(tmp / "text.png", "hello");
  CHECK_THROWS_WITH(read_binary_mask(tmp / "text.png"), Catch::Contains("text.png") && Catch::Contains("not a PNG"));
  CHECK_THROWS_WITH(read_image_rgb(tmp / "none.jpg"), Catch::Contains("none.jpg"));
  difss::test::write_text(tmp / "trunc.jpg", std::string("\xFF\xD8\xFF\xE0\x00\x10JFIF", 10));
  CHECK_THROWS_WITH(read_image_rgb(tmp / "trunc.jpg"), Catch::Contains("trunc.jpg"));
  // A PNG header claiming a huge image is refused before any allocation.
  // (signature + a valid IHDR chunk for 20000 x 20000 8-bit grey, CRC from zlib.crc32, + IDAT)
  const std::string huge(
      "\x89\x50\x4e\x47\x0d\x0a\x1a\x0a\x00\x00\x00\x0d\x49\x48\x44\x52\x00\x00\x4e\x20\x00\x00\x4e\x20\x08"
      "\x00\x00\x00\x00\xc6\x1b\x19\xe5"
      "\x00\x00\x00\x10IDAT",  // the start of an IDAT chunk, where png_read_info stops
      41);
  difss::test::write_text(tmp / "huge.png", huge);
  CHECK_THROWS_WITH(read_label_png(tmp / "huge.png"), Catch::Contains("huge.png") && Catch::Contains("pixel limit"));
}

TEST_CASE("image size from headers matches the decoded size", "[data][io][shared]") {
  DIFSS_REQUIRE_SHARED("data/voc-sample");
  const auto jpg = difss::test::shared_dir() / "data/voc-sample/JPEGImages/2011_000003.jpg";
  CHECK(read_image_size(jpg) == cv::Size(500, 338));
  const cv::Mat rgb = read_image_rgb(jpg);
  CHECK(rgb.type() == CV_8UC3);
  CHECK(rgb.size() == cv::Size(500, 338));
  // RGB order: the decoded pixel equals OpenCV's BGR pixel reversed.
  const cv::Mat bgr = cv::imread(jpg.string());
  const cv::Vec3b a = rgb.at<cv::Vec3b>(100, 100), b = bgr.at<cv::Vec3b>(100, 100);
  CHECK((a[0] == b[2] && a[1] == b[1] && a[2] == b[0]));
  CHECK(read_image_size(difss::test::shared_dir() / "data/voc-sample/SegmentationClassPNG/2011_000003.png") ==
        cv::Size(500, 338));
}

TEST_CASE("resize_nearest follows PyTorch's nearest index rule", "[data][io]") {
  // torch: F.interpolate(arange(6).reshape(1,1,3,2), size=(7,5), mode='nearest')
  const cv::Mat src = (cv::Mat_<std::uint8_t>(3, 2) << 0, 1, 2, 3, 4, 5);
  const cv::Mat out = resize_nearest(src, cv::Size(5, 7));
  const int expect[7][5] = {{0, 0, 0, 1, 1}, {0, 0, 0, 1, 1}, {0, 0, 0, 1, 1}, {2, 2, 2, 3, 3},
                            {2, 2, 2, 3, 3}, {4, 4, 4, 5, 5}, {4, 4, 4, 5, 5}};
  for (int y = 0; y < 7; ++y)
    for (int x = 0; x < 5; ++x) CHECK(out.at<std::uint8_t>(y, x) == expect[y][x]);
  // Sizes where float32 rounding matters (torch values; cv::INTER_NEAREST gives the other one):
  // 2 -> 218: output 109 reads input 0 (sum 108); 2 -> 694: output 347 reads input 1 (sum 347).
  const cv::Mat row = (cv::Mat_<std::uint8_t>(1, 2) << 0, 1);
  const cv::Mat a = resize_nearest(row, cv::Size(218, 1));
  CHECK(a.at<std::uint8_t>(0, 109) == 0);
  CHECK(cv::sum(a)[0] == 108);
  const cv::Mat b = resize_nearest(row, cv::Size(694, 1));
  CHECK(b.at<std::uint8_t>(0, 347) == 1);
  CHECK(cv::sum(b)[0] == 347);
  // Identity and multi-channel.
  const cv::Mat rgb(4, 3, CV_8UC3, cv::Scalar(1, 2, 3));
  const cv::Mat r2 = resize_nearest(rgb, cv::Size(6, 8));
  CHECK(r2.type() == CV_8UC3);
  CHECK(r2.at<cv::Vec3b>(7, 5) == cv::Vec3b(1, 2, 3));
  CHECK(cv::countNonZero(resize_nearest(src, src.size()) != src) == 0);
}

TEST_CASE("atomic writes replace files whole and leave no temporaries", "[data][io]") {
  TempDir tmp;
  const auto p = tmp / "a/b/c.txt";
  write_file_atomic(p, std::string_view("first"));
  write_file_atomic(p, std::string_view("second, longer"));
  std::ifstream in(p);
  std::string s((std::istreambuf_iterator<char>(in)), {});
  CHECK(s == "second, longer");
  CHECK((std::filesystem::status(p).permissions() & std::filesystem::perms::others_read) != std::filesystem::perms::none);
  // Writing onto a folder fails, names the path and leaves nothing behind.
  std::filesystem::create_directories(tmp / "dir");
  CHECK_THROWS_WITH(write_file_atomic(tmp / "dir", std::string_view("x")), Catch::Contains("dir"));
  imwrite_atomic(tmp / "img.png", cv::Mat(3, 3, CV_8UC1, cv::Scalar(7)));
  CHECK(cv::imread((tmp / "img.png").string(), cv::IMREAD_GRAYSCALE).at<std::uint8_t>(1, 1) == 7);
  CHECK_THROWS_WITH(imwrite_atomic(tmp / "img.nosuchformat", cv::Mat(3, 3, CV_8UC1)), Catch::Contains("img.nosuchformat"));
  for (const auto& e : std::filesystem::recursive_directory_iterator(tmp.path()))
    CHECK(e.path().filename().string().find(".tmp-") == std::string::npos);
}
