/* SHA-1 as specified in FIPS 180-4, sections 4.1.1, 5.1.1, 5.3.1 and 6.1. */
#include "tsim.h"

#include <string.h>

/*
 * The three rotations SHA-1 needs, built from byte moves and one-bit shifts. avr-gcc at -Os turns a
 * 32-bit shift by 5 or 30 into a loop of one-bit shifts over four registers; a shift by 8 is a byte
 * move and a one-bit shift four instructions. Other compilers see through these as rotations.
 */
static uint32_t rotl1(uint32_t x) { return (x << 1) | ((x & UINT32_C(0x80000000)) ? 1u : 0u); }

static uint32_t rotr1(uint32_t x) { return (x >> 1) | ((x & 1u) ? UINT32_C(0x80000000) : 0u); }

static uint32_t rotl8(uint32_t x) { return (x << 8) | (x >> 24); }

/* rotl 5 = rotl 8, then rotr 3 */
static uint32_t rotl5(uint32_t x) { return rotr1(rotr1(rotr1(rotl8(x)))); }

/* rotl 30 = rotr 2 */
static uint32_t rotl30(uint32_t x) { return rotr1(rotr1(x)); }

static uint32_t load_be32(const uint8_t *p)
{
    /* Casts before shifting: on AVR an int is 16 bits wide. */
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

static void compress(uint32_t h[5], const uint8_t block[TSIM_BLOCK_SIZE])
{
    /* A 16-word ring instead of the 80-word schedule: 64 bytes of stack on a 2 KB board. */
    uint32_t w[16];
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    unsigned t;
    for (t = 0; t < 16; t++) {
        w[t] = load_be32(block + 4 * t);
    }
    for (t = 0; t < 80; t++) {
        uint32_t f, k, temp;
        if (t >= 16) {
            w[t & 15] = rotl1(w[(t - 3) & 15] ^ w[(t - 8) & 15] ^ w[(t - 14) & 15] ^ w[t & 15]);
        }
        if (t < 20) {
            f = (b & c) | (~b & d);
            k = UINT32_C(0x5a827999);
        } else if (t < 40) {
            f = b ^ c ^ d;
            k = UINT32_C(0x6ed9eba1);
        } else if (t < 60) {
            f = (b & c) | (b & d) | (c & d);
            k = UINT32_C(0x8f1bbcdc);
        } else {
            f = b ^ c ^ d;
            k = UINT32_C(0xca62c1d6);
        }
        temp = rotl5(a) + f + e + k + w[t & 15];
        e = d;
        d = c;
        c = rotl30(b);
        b = a;
        a = temp;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
}

void tsim_sha1_init(tsim_sha1_ctx *ctx)
{
    ctx->h[0] = UINT32_C(0x67452301);
    ctx->h[1] = UINT32_C(0xefcdab89);
    ctx->h[2] = UINT32_C(0x98badcfe);
    ctx->h[3] = UINT32_C(0x10325476);
    ctx->h[4] = UINT32_C(0xc3d2e1f0);
    ctx->length = 0;
    ctx->used = 0;
}

void tsim_sha1_update(tsim_sha1_ctx *ctx, const uint8_t *data, size_t len)
{
    size_t i;
    for (i = 0; i < len; i++) {
        ctx->block[ctx->used++] = data[i];
        if (ctx->used == TSIM_BLOCK_SIZE) {
            compress(ctx->h, ctx->block);
            ctx->used = 0;
        }
    }
    ctx->length += len;
}

void tsim_sha1_final(tsim_sha1_ctx *ctx, uint8_t out[TSIM_SHA1_SIZE])
{
    uint64_t bits = ctx->length * 8u;
    unsigned i;
    /* Padding (5.1.1): a 1 bit, zeros to 56 mod 64 bytes, then the length in bits, big-endian. */
    ctx->block[ctx->used++] = 0x80;
    if (ctx->used > 56) {
        memset(ctx->block + ctx->used, 0, TSIM_BLOCK_SIZE - ctx->used);
        compress(ctx->h, ctx->block);
        ctx->used = 0;
    }
    memset(ctx->block + ctx->used, 0, 56 - ctx->used);
    for (i = 0; i < 8; i++) {
        ctx->block[56 + i] = (uint8_t)(bits >> (56 - 8 * i));
    }
    compress(ctx->h, ctx->block);
    for (i = 0; i < 5; i++) {
        out[4 * i] = (uint8_t)(ctx->h[i] >> 24);
        out[4 * i + 1] = (uint8_t)(ctx->h[i] >> 16);
        out[4 * i + 2] = (uint8_t)(ctx->h[i] >> 8);
        out[4 * i + 3] = (uint8_t)ctx->h[i];
    }
    memset(ctx, 0, sizeof *ctx);
}
