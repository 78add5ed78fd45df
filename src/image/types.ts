/** An 8-bit RGB image: interleaved R,G,B, row-major, `data.length === width * height * 3`. */
export interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array;
}

export function newImage(width: number, height: number): RgbImage {
  return { width, height, data: new Uint8Array(width * height * 3) };
}

/** A rectangle of pixels: top-left corner and size. */
export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

/**
 * An image whose size is known and whose pixels come on demand, all of them or only a box: a file
 * whose header has been read (decode.ts openImage) hands over just the box, saving the copy of the rest.
 */
export interface ImageSource {
  width: number;
  height: number;
  decode(box?: Box): Promise<RgbImage>;
}
