/*-------------------------------------------------------------------------
 *
 * uuid_util.c
 *	  uuid helpers: time-ordered (version 7) ids for new events and
 *	  aggregates, name-based (version 5) ids for derived streams, and
 *	  conversions to and from text.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/cryptohash.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "util/uuid_util.h"

/*
 * A version 7 uuid: 48 bits of Unix milliseconds, then random bits, so ids
 * made later sort later and index inserts stay on the right edge.
 */
void
cqrs_uuid_time_ordered(pg_uuid_t *out)
{
	TimestampTz now = GetCurrentTimestamp();
	uint64		unix_ms;

	unix_ms = (uint64) (now / 1000) +
		(uint64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY * 1000;

	if (!pg_strong_random(out->data + 6, UUID_LEN - 6))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate random values")));

	out->data[0] = (unsigned char) (unix_ms >> 40);
	out->data[1] = (unsigned char) (unix_ms >> 32);
	out->data[2] = (unsigned char) (unix_ms >> 24);
	out->data[3] = (unsigned char) (unix_ms >> 16);
	out->data[4] = (unsigned char) (unix_ms >> 8);
	out->data[5] = (unsigned char) unix_ms;
	out->data[6] = (out->data[6] & 0x0f) | 0x70;
	out->data[8] = (out->data[8] & 0x3f) | 0x80;
}

/*
 * A version 5 uuid (RFC 4122 section 4.3): SHA-1 of the namespace id
 * followed by the name.
 */
void
cqrs_uuid_name_based(const pg_uuid_t *namespace_id, const char *name,
					 size_t name_len, pg_uuid_t *out)
{
	pg_cryptohash_ctx *ctx;
	uint8		digest[20];

	ctx = pg_cryptohash_create(PG_SHA1);
	if (pg_cryptohash_init(ctx) < 0 ||
		pg_cryptohash_update(ctx, namespace_id->data, UUID_LEN) < 0 ||
		pg_cryptohash_update(ctx, (const uint8 *) name, name_len) < 0 ||
		pg_cryptohash_final(ctx, digest, sizeof(digest)) < 0)
	{
		pg_cryptohash_free(ctx);
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not compute SHA-1 digest")));
	}
	pg_cryptohash_free(ctx);

	memcpy(out->data, digest, UUID_LEN);
	out->data[6] = (out->data[6] & 0x0f) | 0x50;
	out->data[8] = (out->data[8] & 0x3f) | 0x80;
}

char *
cqrs_uuid_to_cstring(const pg_uuid_t *id)
{
	return DatumGetCString(DirectFunctionCall1(uuid_out,
											   UUIDPGetDatum((pg_uuid_t *) id)));
}

static int
hex_digit_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Parse the canonical text form without throwing; false when malformed.
 */
bool
cqrs_uuid_parse(const char *text, pg_uuid_t *out)
{
	int			i;
	int			nibbles = 0;
	const char *p = text;

	if (*p == '{')
		p++;
	for (i = 0; i < UUID_LEN; i++)
	{
		int			hi,
					lo;

		if (nibbles > 0 && (nibbles == 8 || nibbles == 12 || nibbles == 16 ||
							nibbles == 20) && *p == '-')
			p++;
		hi = hex_digit_value(*p);
		if (hi < 0)
			return false;
		p++;
		lo = hex_digit_value(*p);
		if (lo < 0)
			return false;
		p++;
		nibbles += 2;
		out->data[i] = (unsigned char) ((hi << 4) | lo);
	}
	if (text[0] == '{')
	{
		if (*p != '}')
			return false;
		p++;
	}
	return *p == '\0';
}
