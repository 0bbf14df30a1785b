// A screenshot of the whole X screen (not only the webview, which is all WebDriver sees): native
// dialogs are separate GTK windows. `xwd -root` dumps the screen; this turns its ZPixmap into a
// PNG (node's zlib does the compression and the CRCs), so no image tool is needed.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import zlib from "node:zlib";

function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, "ascii"), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(zlib.crc32(td) >>> 0);
  return Buffer.concat([len, td, crc]);
}

const shift = (mask) => (mask ? 31 - Math.clz32(mask & -mask) : 0);

/** Write a PNG of the X screen ($DISPLAY) to `file`. */
export function screenshotRoot(file) {
  const x = execFileSync("xwd", ["-root", "-silent"], { maxBuffer: 64 << 20 });
  const h = (i) => x.readUInt32BE(i * 4);
  const [headerSize, format, width, height, byteOrder, bpp, bpl] = [h(0), h(2), h(4), h(5), h(7), h(11), h(12)];
  const [rm, gm, bm, ncolors] = [h(14), h(15), h(16), h(19)];
  // ZPixmap, 32 or 24 bits per pixel (Xvfb packs a large 24-bit screen into 3 bytes a pixel).
  if (format !== 2 || (bpp !== 32 && bpp !== 24)) throw new Error(`unsupported xwd image (format ${format}, ${bpp} bpp)`);
  const bytes = bpp / 8;
  const data = headerSize + ncolors * 12;
  const raw = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) {
    raw[y * (width * 3 + 1)] = 0;
    for (let i = 0; i < width; i++) {
      const off = data + y * bpl + i * bytes;
      const p = byteOrder === 0 ? x.readUIntLE(off, bytes) : x.readUIntBE(off, bytes);
      const o = y * (width * 3 + 1) + 1 + i * 3;
      raw[o] = (p & rm) >>> shift(rm);
      raw[o + 1] = (p & gm) >>> shift(gm);
      raw[o + 2] = (p & bm) >>> shift(bm);
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  fs.writeFileSync(file, Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", zlib.deflateSync(raw)),
    chunk("IEND", Buffer.alloc(0)),
  ]));
}
