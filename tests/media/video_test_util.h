// Small test videos written at test time with FFmpeg's encoders (FFV1 in Matroska: lossless, so
// a frame's colour says which frame it is), for the video reader's tests.
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/opt.h>
}

namespace edgerun::test {

// Frame i is filled with the colour (i % 256, (i * 7) % 256, 200).
inline void write_test_video(const std::string& path, int frames, int fps, int width, int height) {
  AVFormatContext* fmt = nullptr;
  if (avformat_alloc_output_context2(&fmt, nullptr, "matroska", path.c_str()) < 0) throw std::runtime_error("muxer");
  const AVCodec* codec = avcodec_find_encoder(AV_CODEC_ID_FFV1);
  if (!codec) throw std::runtime_error("no FFV1 encoder");
  AVStream* st = avformat_new_stream(fmt, nullptr);
  AVCodecContext* ctx = avcodec_alloc_context3(codec);
  ctx->width = width;
  ctx->height = height;
  ctx->pix_fmt = AV_PIX_FMT_RGB32;
  ctx->time_base = AVRational{1, fps};
  ctx->framerate = AVRational{fps, 1};
  if (fmt->oformat->flags & AVFMT_GLOBALHEADER) ctx->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  if (avcodec_open2(ctx, codec, nullptr) < 0) throw std::runtime_error("open encoder");
  avcodec_parameters_from_context(st->codecpar, ctx);
  st->time_base = ctx->time_base;
  st->avg_frame_rate = ctx->framerate;
  if (avio_open(&fmt->pb, path.c_str(), AVIO_FLAG_WRITE) < 0) throw std::runtime_error("open output");
  if (avformat_write_header(fmt, nullptr) < 0) throw std::runtime_error("header");
  AVFrame* frame = av_frame_alloc();
  frame->format = ctx->pix_fmt;
  frame->width = width;
  frame->height = height;
  av_frame_get_buffer(frame, 0);
  AVPacket* pkt = av_packet_alloc();
  const auto drain = [&] {
    while (avcodec_receive_packet(ctx, pkt) == 0) {
      av_packet_rescale_ts(pkt, ctx->time_base, st->time_base);
      pkt->stream_index = st->index;
      av_interleaved_write_frame(fmt, pkt);
    }
  };
  for (int i = 0; i < frames; ++i) {
    av_frame_make_writable(frame);
    for (int y = 0; y < height; ++y)
      for (int x = 0; x < width; ++x) {
        uint8_t* p = frame->data[0] + y * frame->linesize[0] + x * 4;  // BGRA in memory
        p[0] = 200;
        p[1] = uint8_t((i * 7) % 256);
        p[2] = uint8_t(i % 256);
        p[3] = 255;
      }
    frame->pts = i;
    avcodec_send_frame(ctx, frame);
    drain();
  }
  avcodec_send_frame(ctx, nullptr);
  drain();
  av_write_trailer(fmt);
  av_packet_free(&pkt);
  av_frame_free(&frame);
  avcodec_free_context(&ctx);
  avio_closep(&fmt->pb);
  avformat_free_context(fmt);
}

}  // namespace edgerun::test
