#include "media/video.h"

#include <algorithm>
#include <cmath>
#include <memory>

#include "core/error.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libswscale/swscale.h>
}

namespace edgerun {

namespace {

std::string av_error(int code) {
  char buf[AV_ERROR_MAX_STRING_SIZE] = {};
  av_strerror(code, buf, sizeof buf);
  return buf;
}

struct FormatCloser {
  void operator()(AVFormatContext* f) const { avformat_close_input(&f); }
};
struct CodecCloser {
  void operator()(AVCodecContext* c) const { avcodec_free_context(&c); }
};
struct FrameFree {
  void operator()(AVFrame* f) const { av_frame_free(&f); }
};
struct PacketFree {
  void operator()(AVPacket* p) const { av_packet_free(&p); }
};
struct SwsFree {
  void operator()(SwsContext* s) const { sws_freeContext(s); }
};

// An opened container with its best video stream and a decoder for it.
struct OpenVideo {
  std::unique_ptr<AVFormatContext, FormatCloser> format;
  std::unique_ptr<AVCodecContext, CodecCloser> codec;
  int stream = -1;
  VideoInfo info;
};

OpenVideo open_video(const std::string& path, bool with_decoder) {
  OpenVideo v;
  AVFormatContext* raw = nullptr;
  av_log_set_level(AV_LOG_QUIET);  // our errors say what went wrong, in one line
  if (const int rc = avformat_open_input(&raw, path.c_str(), nullptr, nullptr); rc < 0)
    fail(path, "cannot open the video: " + av_error(rc));
  v.format.reset(raw);
  if (const int rc = avformat_find_stream_info(raw, nullptr); rc < 0)
    fail(path, "cannot read the video's streams: " + av_error(rc));
  const AVCodec* decoder = nullptr;
  v.stream = av_find_best_stream(raw, AVMEDIA_TYPE_VIDEO, -1, -1, &decoder, 0);
  if (v.stream == AVERROR_STREAM_NOT_FOUND) fail(path, "has no video stream");
  if (v.stream == AVERROR_DECODER_NOT_FOUND || (v.stream >= 0 && !decoder)) {
    const int s = av_find_best_stream(raw, AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
    const char* name = s >= 0 ? avcodec_get_name(raw->streams[s]->codecpar->codec_id) : "unknown";
    fail(path, std::string("the video codec '") + name + "' is not supported by this FFmpeg build");
  }
  if (v.stream < 0) fail(path, "cannot find a video stream: " + av_error(v.stream));
  AVStream* st = raw->streams[v.stream];
  const AVCodecParameters* par = st->codecpar;
  VideoInfo& info = v.info;
  info.width = par->width;
  info.height = par->height;
  info.codec = avcodec_get_name(par->codec_id);
  if (info.width <= 0 || info.height <= 0) fail(path, "the video stream has no frame size");
  if (int64_t(info.width) * info.height > kMaxImagePixels)
    fail(path, "video frames of " + std::to_string(info.width) + "x" + std::to_string(info.height) + " are larger than the limit");
  const AVRational rate = av_guess_frame_rate(raw, st, nullptr);
  info.fps = rate.num > 0 && rate.den > 0 ? av_q2d(rate) : 0;
  if (!(info.fps > 0) || info.fps > 1000) fail(path, "the video stream has no usable frame rate");
  double seconds = 0;
  if (st->duration > 0 && st->time_base.den > 0) seconds = double(st->duration) * av_q2d(st->time_base);
  else if (raw->duration > 0) seconds = double(raw->duration) / AV_TIME_BASE;
  info.frame_count = st->nb_frames > 0 ? st->nb_frames : int64_t(std::llround(seconds * info.fps));
  if (info.frame_count <= 0) fail(path, "the video has no frames (zero length)");
  info.duration = double(info.frame_count) / info.fps;
  if (with_decoder) {
    v.codec.reset(avcodec_alloc_context3(decoder));
    if (!v.codec) fail(path, "out of memory opening the decoder");
    if (avcodec_parameters_to_context(v.codec.get(), par) < 0) fail(path, "cannot set up the video decoder");
    if (const int rc = avcodec_open2(v.codec.get(), decoder, nullptr); rc < 0)
      fail(path, "cannot open the '" + info.codec + "' decoder: " + av_error(rc));
  }
  return v;
}

}  // namespace

std::vector<int64_t> sample_frame_indices(int64_t frame_count, double video_fps, double duration, const VideoSampling& s) {
  if (frame_count <= 0) return {};
  const int64_t estimated = int64_t(std::nearbyint(s.fps * duration));  // Python round(): ties to even
  int64_t desired = std::min(estimated, s.max_frames);
  if (desired < 1) desired = 1;
  int64_t start = 0, end = frame_count - 1;
  if (s.skip_seconds > 0 && duration - 2 * s.skip_seconds > double(s.max_frames) * s.fps) {
    start = int64_t(s.skip_seconds * video_fps);
    end = int64_t(double(frame_count) - s.skip_seconds * video_fps);
  }
  start = std::max<int64_t>(0, start);
  end = std::min(end, frame_count - 1);
  if (start >= end) start = 0, end = frame_count - 1;
  std::vector<int64_t> out;
  for (int64_t i = 0; i < desired; ++i) {
    // numpy.linspace(start, end, desired, dtype=int): start + i·step, truncated toward zero.
    const double step = desired > 1 ? double(end - start) / double(desired - 1) : 0.0;
    const double v = i == desired - 1 && desired > 1 ? double(end) : double(start) + double(i) * step;
    const int64_t idx = int64_t(v);
    if (out.empty() || out.back() != idx) out.push_back(idx);
  }
  return out;
}

VideoInfo probe_video(const std::string& path) { return open_video(path, false).info; }

VideoInfo decode_video_frames(const std::string& path, const std::vector<int64_t>& indices,
                              const std::function<void(VideoFrame&&)>& on_frame) {
  OpenVideo v = open_video(path, true);
  if (indices.empty()) return v.info;
  std::unique_ptr<AVPacket, PacketFree> packet(av_packet_alloc());
  std::unique_ptr<AVFrame, FrameFree> frame(av_frame_alloc());
  if (!packet || !frame) fail(path, "out of memory decoding the video");
  std::unique_ptr<SwsContext, SwsFree> sws;
  size_t next = 0;      // the next wanted index
  int64_t decoded = 0;  // frames decoded so far
  int delivered = 0;
  const auto take_frames = [&]() {
    while (next < indices.size()) {
      const int rc = avcodec_receive_frame(v.codec.get(), frame.get());
      if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) return;
      if (rc < 0) return;  // damaged data: keep what was decoded
      const int64_t index = decoded++;
      if (index == indices[next]) {
        if (int64_t(frame->width) * frame->height > kMaxImagePixels || frame->width <= 0 || frame->height <= 0)
          fail(path, "a video frame is larger than the limit");
        sws.reset(sws_getContext(frame->width, frame->height, AVPixelFormat(frame->format), frame->width, frame->height,
                                 AV_PIX_FMT_RGB24, SWS_BICUBIC, nullptr, nullptr, nullptr));
        if (!sws) fail(path, "cannot convert the video's pixel format to RGB");
        VideoFrame out;
        out.index = index;
        out.timestamp = double(index) / v.info.fps;
        out.image.width = frame->width;
        out.image.height = frame->height;
        out.image.channels = 3;
        out.image.pixels.resize(size_t(frame->width) * size_t(frame->height) * 3);
        uint8_t* dst[4] = {out.image.pixels.data(), nullptr, nullptr, nullptr};
        int dst_stride[4] = {frame->width * 3, 0, 0, 0};
        sws_scale(sws.get(), frame->data, frame->linesize, 0, frame->height, dst, dst_stride);
        ++next;
        ++delivered;
        on_frame(std::move(out));
      }
      av_frame_unref(frame.get());
    }
  };
  while (next < indices.size()) {
    const int rc = av_read_frame(v.format.get(), packet.get());
    if (rc < 0) break;  // end of file, or a truncated one
    if (packet->stream_index == v.stream) {
      const int sent = avcodec_send_packet(v.codec.get(), packet.get());
      av_packet_unref(packet.get());
      if (sent < 0 && sent != AVERROR(EAGAIN)) continue;  // a damaged packet: skip it
      take_frames();
    } else {
      av_packet_unref(packet.get());
    }
  }
  if (next < indices.size()) {  // drain the decoder
    avcodec_send_packet(v.codec.get(), nullptr);
    take_frames();
  }
  if (delivered == 0) fail(path, "no frame could be decoded (damaged or empty video)");
  return v.info;
}

}  // namespace edgerun
