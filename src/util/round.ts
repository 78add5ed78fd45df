/** Round half to even — Python's round(), OpenCV's cvRound (lrint) on a double — for |v| < 2³¹. */
export function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && (r & 1) !== 0 ? r - 1 : r;
}
