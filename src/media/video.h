// Videos as the vision-language models see them: frames decoded with FFmpeg's libraries
// (libavformat / libavcodec / libswscale), sampled the way SmolVLM2's video processor samples
// them, and handed over one at a time so that memory stays bounded by one decoded frame plus
// what the caller keeps (never every frame of a long video).
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "media/image.h"

namespace edgerun {

struct VideoInfo {
  int width = 0, height = 0;
  double fps = 0;           // average frame rate of the stream
  int64_t frame_count = 0;  // from the container, else estimated as duration · fps
  double duration = 0;      // seconds: frame_count / fps (as transformers' video metadata)
  std::string codec;
};

// SmolVLM2's video_sampling: target frames per second, a cap, and seconds skipped at both ends
// of long videos.
struct VideoSampling {
  double fps = 1.0;
  int64_t max_frames = 64;
  double skip_seconds = 1.0;
};

// SmolVLMVideoProcessor.sample_frames: round(fps · duration) frames (at least 1, at most
// max_frames), evenly spaced from the first to the last frame — from skip_seconds in at both
// ends when the video is longer than max_frames / fps + 2·skip_seconds — truncated to integers
// and deduplicated.
std::vector<int64_t> sample_frame_indices(int64_t frame_count, double video_fps, double duration,
                                          const VideoSampling& sampling);

struct VideoFrame {
  int64_t index = 0;     // position in the stream (0-based)
  double timestamp = 0;  // index / fps, seconds
  ImageU8 image;         // RGB
};

// Reads the container's metadata without decoding frames. Throws Error naming `path`.
VideoInfo probe_video(const std::string& path);

// Decodes `path` from the start and calls on_frame for each frame in `indices` (ascending), in
// order, as it is decoded. Returns the metadata. Throws Error naming `path` for a missing or
// unreadable file, no video stream, an unsupported codec, frames over kMaxImagePixels, or a video
// that yields none of the requested frames; a truncated file gives the frames before the damage.
VideoInfo decode_video_frames(const std::string& path, const std::vector<int64_t>& indices,
                              const std::function<void(VideoFrame&&)>& on_frame);

}  // namespace edgerun
