// imaginet_codec.node: the test-set builder's codecs and resize kernel on the system's libjpeg-turbo
// and libwebp (the libraries Debian's cv2 and Pillow link, so their pixels hold by construction),
// with no per-call pipeline cost. Independent of libtorch. Every function is synchronous: callers
// run it on a worker thread or on small images.
#include <napi.h>

#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <jpeglib.h>
#include <jerror.h>
#include <webp/decode.h>
#include <webp/encode.h>

namespace {

// ---- libjpeg error handling: errors and a premature end of data longjmp back with the message ----

struct JpegError {
  jpeg_error_mgr mgr;
  jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void onJpegError(j_common_ptr c) {
  auto* e = reinterpret_cast<JpegError*>(c->err);
  c->err->format_message(c, e->message);
  longjmp(e->jump, 1);
}

// Warnings are ignored, as libvips with failOn "error" and Pillow ignore them, except a truncated
// file ("premature end of JPEG file"), which both refuse.
void onJpegMessage(j_common_ptr c, int level) {
  if (level < 0 && c->err->msg_code == JWRN_JPEG_EOF) onJpegError(c);
}

JpegError* initError(JpegError& e) {
  jpeg_std_error(&e.mgr);
  e.mgr.error_exit = onJpegError;
  e.mgr.emit_message = onJpegMessage;
  e.message[0] = 0;
  return &e;
}

Napi::Uint8Array bytesArg(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (!info[i].IsTypedArray() || info[i].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    throw Napi::TypeError::New(info.Env(), std::string(what) + ": a Uint8Array expected");
  }
  return info[i].As<Napi::Uint8Array>();
}

int intArg(const Napi::CallbackInfo& info, size_t i) { return info[i].As<Napi::Number>().Int32Value(); }

void checkRgb(Napi::Env env, const Napi::Uint8Array& data, int w, int h) {
  if (w < 1 || h < 1 || data.ByteLength() != static_cast<size_t>(w) * h * 3) throw Napi::RangeError::New(env, "bad RGB image size");
}

// ---- JPEG decode ----

const char* colorSpaceName(J_COLOR_SPACE s) {
  switch (s) {
    case JCS_GRAYSCALE: return "grey";
    case JCS_YCbCr: return "ycbcr";
    case JCS_RGB: return "rgb";
    case JCS_CMYK: return "cmyk";
    case JCS_YCCK: return "ycck";
    default: return "other";
  }
}

// jpegHeader(bytes) → {width, height, colorSpace}
Napi::Value JpegHeader(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Uint8Array buf = bytesArg(info, 0, "jpegHeader");
  jpeg_decompress_struct c;
  JpegError e;
  c.err = &initError(e)->mgr;
  jpeg_create_decompress(&c);
  if (setjmp(e.jump)) {
    jpeg_destroy_decompress(&c);
    throw Napi::Error::New(env, e.message);
  }
  jpeg_mem_src(&c, buf.Data(), buf.ByteLength());
  jpeg_read_header(&c, TRUE);
  Napi::Object out = Napi::Object::New(env);
  out.Set("width", c.image_width);
  out.Set("height", c.image_height);
  out.Set("colorSpace", colorSpaceName(c.jpeg_color_space));
  jpeg_destroy_decompress(&c);
  return out;
}

// jpegDecode(bytes, x, y, width, height) → RGB bytes of that box, as a whole decode would give them.
// Columns outside the box (less one of margin, which fancy upsampling reads) are neither
// inverse-transformed nor converted (jpeg_crop_scanline); rows above it are skipped
// (jpeg_skip_scanlines), rows below it never decoded.
Napi::Value JpegDecode(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Uint8Array buf = bytesArg(info, 0, "jpegDecode");
  const int x = intArg(info, 1), y = intArg(info, 2), w = intArg(info, 3), h = intArg(info, 4);
  jpeg_decompress_struct c;
  JpegError e;
  c.err = &initError(e)->mgr;
  jpeg_create_decompress(&c);
  std::vector<uint8_t> row;
  Napi::Uint8Array out;
  if (setjmp(e.jump)) {
    jpeg_destroy_decompress(&c);
    throw Napi::Error::New(env, e.message);
  }
  jpeg_mem_src(&c, buf.Data(), buf.ByteLength());
  jpeg_read_header(&c, TRUE);
  c.out_color_space = JCS_RGB;
  jpeg_start_decompress(&c);
  const int iw = c.output_width, ih = c.output_height;
  if (x < 0 || y < 0 || w < 1 || h < 1 || x + w > iw || y + h > ih) {
    jpeg_destroy_decompress(&c);
    throw Napi::RangeError::New(env, "jpegDecode: box outside the image");
  }
  out = Napi::Uint8Array::New(env, static_cast<size_t>(w) * h * 3);
  JDIMENSION cx = x > 0 ? x - 1 : 0, cw = std::min(x + w + 1, iw) - cx;
  if (cx > 0 || static_cast<int>(cw) < iw) jpeg_crop_scanline(&c, &cx, &cw);  // cx moves left to an iMCU boundary
  const int top = y > 0 ? y - 1 : 0;
  if (top > 0) jpeg_skip_scanlines(&c, top);
  row.resize(static_cast<size_t>(cw) * 3);
  while (static_cast<int>(c.output_scanline) < y + h) {
    const int sy = c.output_scanline;
    JSAMPROW r = row.data();
    jpeg_read_scanlines(&c, &r, 1);
    if (sy >= y) std::memcpy(out.Data() + static_cast<size_t>(sy - y) * w * 3, row.data() + (x - cx) * 3, static_cast<size_t>(w) * 3);
  }
  jpeg_abort_decompress(&c);  // the rows below the box are not needed
  jpeg_destroy_decompress(&c);
  return out;
}

// ---- Lanczos-4 resize: OpenCV's fixed-point separable kernel on tables computed by resize.ts ----

// resizeLanczos4(src, sw, sh, dw, dh, xFirst, xCoef, yIdx, yCoef) → RGB bytes dw×dh.
// xFirst[dx]: first source column of the 8 taps (unclamped: up to 4 columns past either edge);
// xCoef/yCoef: int16 weights (8 per destination); yIdx: clamped source row of each tap.
Napi::Value ResizeLanczos4(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Uint8Array src = bytesArg(info, 0, "resizeLanczos4");
  const int sw = intArg(info, 1), sh = intArg(info, 2), dw = intArg(info, 3), dh = intArg(info, 4);
  checkRgb(env, src, sw, sh);
  auto xFirst = info[5].As<Napi::Int32Array>();
  auto xCoef = info[6].As<Napi::Int16Array>();
  auto yIdx = info[7].As<Napi::Int32Array>();
  auto yCoef = info[8].As<Napi::Int16Array>();
  constexpr int K = 8, PAD = 4;
  if (dw < 1 || dh < 1 || xFirst.ElementLength() != static_cast<size_t>(dw) || xCoef.ElementLength() != static_cast<size_t>(dw) * K ||
      yIdx.ElementLength() != static_cast<size_t>(dh) * K || yCoef.ElementLength() != static_cast<size_t>(dh) * K) {
    throw Napi::RangeError::New(env, "resizeLanczos4: bad tables");
  }
  for (int dx = 0; dx < dw; dx++) {
    if (xFirst[dx] < -PAD || xFirst[dx] + K > sw + PAD) throw Napi::RangeError::New(env, "resizeLanczos4: tap outside the padded row");
  }
  for (size_t i = 0; i < yIdx.ElementLength(); i++) {
    if (yIdx[i] < 0 || yIdx[i] >= sh) throw Napi::RangeError::New(env, "resizeLanczos4: row outside the image");
  }
  const int W = dw * 3;
  Napi::Uint8Array out = Napi::Uint8Array::New(env, static_cast<size_t>(dh) * W);
  std::vector<int32_t> ring(static_cast<size_t>(K) * W);  // horizontal sums of the last K source rows used
  int ringRow[K];
  for (int& r : ringRow) r = -1;
  // a source row with PAD replicated edge pixels each side, so that clamped taps are plain reads
  std::vector<uint8_t> padded(static_cast<size_t>(sw + 2 * PAD) * 3);
  const uint8_t* s = src.Data();
  const int16_t* xc = xCoef.Data();
  for (int dy = 0; dy < dh; dy++) {
    const int32_t* rows[K];
    for (int k = 0; k < K; k++) {
      const int sy = yIdx[dy * K + k], slot = sy % K;
      int32_t* sums = ring.data() + static_cast<size_t>(slot) * W;
      if (ringRow[slot] != sy) {
        const uint8_t* line = s + static_cast<size_t>(sy) * sw * 3;
        std::memcpy(padded.data() + PAD * 3, line, static_cast<size_t>(sw) * 3);
        for (int i = 0; i < PAD; i++) {
          for (int ch = 0; ch < 3; ch++) {
            padded[i * 3 + ch] = line[ch];
            padded[(PAD + sw + i) * 3 + ch] = line[(sw - 1) * 3 + ch];
          }
        }
        for (int dx = 0; dx < dw; dx++) {
          const uint8_t* p = padded.data() + (xFirst[dx] + PAD) * 3;
          const int16_t* a = xc + dx * K;
          int32_t r = 0, g = 0, b = 0;
          for (int t = 0; t < K; t++) {
            r += p[t * 3] * a[t];
            g += p[t * 3 + 1] * a[t];
            b += p[t * 3 + 2] * a[t];
          }
          sums[dx * 3] = r;
          sums[dx * 3 + 1] = g;
          sums[dx * 3 + 2] = b;
        }
        ringRow[slot] = sy;
      }
      rows[k] = sums;
    }
    const int16_t* beta = yCoef.Data() + dy * K;
    uint8_t* d = out.Data() + static_cast<size_t>(dy) * W;
    for (int i = 0; i < W; i++) {
      // int32 with wrap-around as OpenCV's VResizeLanczos4 (unsigned arithmetic: wrapping is defined)
      uint32_t acc = 0;
      for (int k = 0; k < K; k++) acc += static_cast<uint32_t>(rows[k][i]) * static_cast<uint32_t>(static_cast<int32_t>(beta[k]));
      const int v = (static_cast<int32_t>(acc + (1u << 21))) >> 22;
      d[i] = v < 0 ? 0 : v > 255 ? 255 : v;
    }
  }
  return out;
}

// ---- compression round trip as cv2.imencode + cv2.imdecode ----

// The channel order the codec is told: OpenCV hands its arrays to libjpeg/libwebp as BGR.
Napi::Uint8Array jpegRoundTrip(Napi::Env env, const uint8_t* px, int w, int h, int quality, bool bgr) {
  const J_COLOR_SPACE order = bgr ? JCS_EXT_BGR : JCS_RGB;
  JpegError e;
  jpeg_compress_struct c;
  c.err = &initError(e)->mgr;
  jpeg_create_compress(&c);
  unsigned char* mem = nullptr;
  unsigned long size = 0;
  jpeg_decompress_struct d;
  d.err = &e.mgr;
  jpeg_create_decompress(&d);
  Napi::Uint8Array out;
  if (setjmp(e.jump)) {
    jpeg_destroy_compress(&c);
    jpeg_destroy_decompress(&d);
    free(mem);
    throw Napi::Error::New(env, e.message);
  }
  // OpenCV's JpegEncoder: libjpeg's defaults (4:2:0, ISLOW DCT, Huffman tables not optimised) at the quality, baseline tables
  jpeg_mem_dest(&c, &mem, &size);
  c.image_width = w;
  c.image_height = h;
  c.input_components = 3;
  c.in_color_space = order;
  jpeg_set_defaults(&c);
  jpeg_set_quality(&c, quality, TRUE);
  jpeg_start_compress(&c, TRUE);
  while (c.next_scanline < c.image_height) {
    JSAMPROW r = const_cast<uint8_t*>(px) + static_cast<size_t>(c.next_scanline) * w * 3;
    jpeg_write_scanlines(&c, &r, 1);
  }
  jpeg_finish_compress(&c);
  // OpenCV's JpegDecoder: libjpeg's defaults (ISLOW IDCT, fancy upsampling)
  jpeg_mem_src(&d, mem, size);
  jpeg_read_header(&d, TRUE);
  d.out_color_space = order;
  jpeg_start_decompress(&d);
  out = Napi::Uint8Array::New(env, static_cast<size_t>(w) * h * 3);
  while (d.output_scanline < d.output_height) {
    JSAMPROW r = out.Data() + static_cast<size_t>(d.output_scanline) * w * 3;
    jpeg_read_scanlines(&d, &r, 1);
  }
  jpeg_finish_decompress(&d);
  jpeg_destroy_compress(&c);
  jpeg_destroy_decompress(&d);
  free(mem);
  return out;
}

// OpenCV's WebPEncoder: WebPEncodeBGR/RGB at the quality (lossless above 100); its decoder WebPDecodeBGRInto
Napi::Uint8Array webpRoundTrip(Napi::Env env, const uint8_t* px, int w, int h, int quality, bool bgr) {
  uint8_t* enc = nullptr;
  size_t n = quality > 100 ? (bgr ? WebPEncodeLosslessBGR : WebPEncodeLosslessRGB)(px, w, h, w * 3, &enc)
                           : (bgr ? WebPEncodeBGR : WebPEncodeRGB)(px, w, h, w * 3, static_cast<float>(quality), &enc);
  if (n == 0) throw Napi::Error::New(env, "WebP encoding failed");
  Napi::Uint8Array out = Napi::Uint8Array::New(env, static_cast<size_t>(w) * h * 3);
  const uint8_t* ok = (bgr ? WebPDecodeBGRInto : WebPDecodeRGBInto)(enc, n, out.Data(), out.ByteLength(), w * 3);
  WebPFree(enc);
  if (!ok) throw Napi::Error::New(env, "WebP decoding failed");
  return out;
}

// compressRoundTrip(rgb, w, h, "jpeg"|"webp", quality, bgr) → the decoded pixels
Napi::Value CompressRoundTrip(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Uint8Array px = bytesArg(info, 0, "compressRoundTrip");
  const int w = intArg(info, 1), h = intArg(info, 2), quality = intArg(info, 4);
  checkRgb(env, px, w, h);
  const std::string codec = info[3].As<Napi::String>();
  const bool bgr = info[5].As<Napi::Boolean>();
  if (codec == "jpeg") return jpegRoundTrip(env, px.Data(), w, h, quality, bgr);
  if (codec == "webp") return webpRoundTrip(env, px.Data(), w, h, quality, bgr);
  throw Napi::TypeError::New(env, "compressRoundTrip: codec jpeg or webp expected");
}

// ---- lossless WebP as Pillow saves it: WebPConfigPreset(DEFAULT, quality 80), lossless, method ----

int writeToVector(const uint8_t* data, size_t size, const WebPPicture* pic) {
  auto* v = static_cast<std::vector<uint8_t>*>(pic->custom_ptr);
  v->insert(v->end(), data, data + size);
  return 1;
}

// losslessWebp(rgb, w, h, method) → WebP file bytes
Napi::Value LosslessWebp(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Uint8Array px = bytesArg(info, 0, "losslessWebp");
  const int w = intArg(info, 1), h = intArg(info, 2), method = intArg(info, 3);
  checkRgb(env, px, w, h);
  WebPConfig config;
  if (!WebPConfigPreset(&config, WEBP_PRESET_DEFAULT, 80.f)) throw Napi::Error::New(env, "libwebp version mismatch");
  config.lossless = 1;
  config.method = method;
  if (!WebPValidateConfig(&config)) throw Napi::RangeError::New(env, "losslessWebp: bad method (0..6)");
  WebPPicture pic;
  WebPPictureInit(&pic);
  pic.width = w;
  pic.height = h;
  pic.use_argb = 1;
  std::vector<uint8_t> file;
  pic.writer = writeToVector;
  pic.custom_ptr = &file;
  const bool ok = WebPPictureImportRGB(&pic, px.Data(), w * 3) && WebPEncode(&config, &pic);
  const int err = pic.error_code;
  WebPPictureFree(&pic);
  if (!ok) throw Napi::Error::New(env, "WebP lossless encoding failed (error " + std::to_string(err) + ")");
  return Napi::Buffer<uint8_t>::Copy(env, file.data(), file.size());
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("jpegHeader", Napi::Function::New(env, JpegHeader));
  exports.Set("jpegDecode", Napi::Function::New(env, JpegDecode));
  exports.Set("resizeLanczos4", Napi::Function::New(env, ResizeLanczos4));
  exports.Set("compressRoundTrip", Napi::Function::New(env, CompressRoundTrip));
  exports.Set("losslessWebp", Napi::Function::New(env, LosslessWebp));
  exports.Set("libwebpVersion", Napi::Number::New(env, WebPGetEncoderVersion()));
  return exports;
}

}  // namespace

NODE_API_MODULE(imaginet_codec, Init)
