// The video reader: SmolVLM2's frame sampling rule, metadata, decoding only the sampled frames
// (FFV1 test videos written here, so each frame's colour names it), and damaged or wrong files.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "media/video.h"
#include "media/video_test_util.h"
#include "test_util.h"

namespace edgerun {
namespace {

TEST(VideoSampling, FollowsTheSmolVlm2Processor) {
  const VideoSampling s;  // fps 1, max 64 frames, skip 1 s
  // 10 s at 30 fps: round(1 · 10) = 10 frames over [0, 299]: linspace truncated.
  EXPECT_EQ(sample_frame_indices(300, 30, 10, s), (std::vector<int64_t>{0, 33, 66, 99, 132, 166, 199, 232, 265, 299}));
  // 200 s at 25 fps (5000 frames): capped at 64 frames, and 200 − 2 > 64 · 1 so the first and
  // last second are skipped: linspace(25, 4975, 64).
  const auto long_video = sample_frame_indices(5000, 25, 200, s);
  ASSERT_EQ(long_video.size(), 64u);
  EXPECT_EQ(long_video.front(), 25);
  EXPECT_EQ(long_video[1], 103);  // 25 + 4950/63 = 103.57
  EXPECT_EQ(long_video.back(), 4975);
  // Half a second: round(0.5) = 0 (ties to even) → at least one frame, the first.
  EXPECT_EQ(sample_frame_indices(15, 30, 0.5, s), (std::vector<int64_t>{0}));
  // 2.5 s → round(2.5) = 2 frames: the first and the last.
  EXPECT_EQ(sample_frame_indices(75, 30, 2.5, s), (std::vector<int64_t>{0, 74}));
  // More frames wanted than there are: duplicates removed.
  EXPECT_EQ(sample_frame_indices(3, 1, 3, VideoSampling{4.0, 64, 1.0}), (std::vector<int64_t>{0, 1, 2}));
  EXPECT_TRUE(sample_frame_indices(0, 30, 0, s).empty());
}

TEST(Video, DecodesOnlyTheSampledFramesWithTheirTimestamps) {
  test::TempDir dir;
  const std::string path = dir.file("clip.mkv");
  test::write_test_video(path, 45, 15, 64, 48);  // 3 s at 15 fps
  const VideoInfo info = probe_video(path);
  EXPECT_EQ(info.width, 64);
  EXPECT_EQ(info.height, 48);
  EXPECT_DOUBLE_EQ(info.fps, 15.0);
  EXPECT_EQ(info.frame_count, 45);
  EXPECT_DOUBLE_EQ(info.duration, 3.0);
  EXPECT_EQ(info.codec, "ffv1");
  const std::vector<int64_t> wanted = sample_frame_indices(info.frame_count, info.fps, info.duration, {});
  ASSERT_EQ(wanted, (std::vector<int64_t>{0, 22, 44}));
  std::vector<VideoFrame> got;
  decode_video_frames(path, wanted, [&](VideoFrame&& f) { got.push_back(std::move(f)); });
  ASSERT_EQ(got.size(), 3u);
  for (size_t k = 0; k < got.size(); ++k) {
    const int64_t i = wanted[k];
    EXPECT_EQ(got[k].index, i);
    EXPECT_DOUBLE_EQ(got[k].timestamp, double(i) / 15.0);
    ASSERT_EQ(got[k].image.width, 64);
    const uint8_t* px = got[k].image.at(10, 20);
    EXPECT_EQ(int(px[0]), int(i % 256)) << i;
    EXPECT_EQ(int(px[1]), int((i * 7) % 256)) << i;
    EXPECT_EQ(int(px[2]), 200) << i;
  }
}

TEST(Video, BadFilesAreClearErrors) {
  test::TempDir dir;
  const auto expect_error = [](const std::string& path, const std::string& needle) {
    try {
      decode_video_frames(path, {0}, [](VideoFrame&&) {});
      ADD_FAILURE() << path << " was accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_error(dir.file("missing.mp4"), "missing.mp4");
  expect_error(dir.write("empty.mp4", ""), "empty.mp4");
  expect_error(dir.write("junk.mp4", std::string(5000, 'x')), "junk.mp4");
  // A PNG is an image, not a video stream FFmpeg would time: refused or without frames, never a crash.
  std::string png = "\x89PNG\r\n\x1a\n";
  expect_error(dir.write("image.png", png + std::string(100, '\0')), "image.png");
  // Truncated: the frames before the cut still come out; cut before any frame: an error.
  const std::string clip = dir.file("clip.mkv");
  test::write_test_video(clip, 30, 10, 32, 32);
  std::ifstream in(clip, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string half = dir.write("half.mkv", bytes.substr(0, bytes.size() / 2));
  int frames = 0;
  try {
    decode_video_frames(half, {0, 1, 2, 25, 29}, [&](VideoFrame&&) { ++frames; });
    EXPECT_GE(frames, 3);
    EXPECT_LT(frames, 5);
  } catch (const Error& e) {
    ADD_FAILURE() << "a half file should give its first frames: " << e.what();
  }
  expect_error(dir.write("head.mkv", bytes.substr(0, 200)), "head.mkv");
}

// Damaged copies of a valid clip (bytes overwritten at random places, seeded): each one either
// yields frames or a clear Error; under the sanitizer build (tests/sanitize.sh) nothing may
// read or write out of bounds.
TEST(Video, DamagedFilesFuzz) {
  test::TempDir dir;
  const std::string clip = dir.file("clip.mkv");
  test::write_test_video(clip, 24, 8, 40, 30);
  std::ifstream in(clip, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  uint64_t state = 12345;
  const auto next = [&] { return (state = state * 6364136223846793005ull + 1442695040888963407ull) >> 33; };
  int decoded = 0, refused = 0;
  for (int round = 0; round < 40; ++round) {
    std::string damaged = bytes;
    const int flips = 1 + int(next() % 8);
    for (int f = 0; f < flips; ++f) damaged[next() % damaged.size()] = char(next() & 0xff);
    if (round % 5 == 0) damaged.resize(next() % damaged.size());  // some truncated as well
    const std::string path = dir.write("damaged.mkv", damaged);
    try {
      int frames = 0;
      decode_video_frames(path, {0, 5, 11, 17, 23}, [&](VideoFrame&& fr) {
        ASSERT_EQ(fr.image.pixels.size(), size_t(fr.image.width) * size_t(fr.image.height) * 3);
        ++frames;
      });
      decoded += frames > 0;
    } catch (const Error&) {
      ++refused;
    }
  }
  // The fixed seed damages some clips only lightly and others fatally: both outcomes occur.
  EXPECT_GT(decoded, 0);
  EXPECT_GT(refused, 0);
  std::printf("damaged clips: %d decoded (some frames), %d refused with an error\n", decoded, refused);
}

}  // namespace
}  // namespace edgerun
