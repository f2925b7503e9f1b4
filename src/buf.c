/*
 * Bounded growable buffers: every buffer is created with a maximum and
 * refuses to grow past it (the curl habit).
 */
#include <stdlib.h>
#include <string.h>

#include "otp.h"

/* Start an empty buffer that will never hold more than max bytes. */
void
buf_init(struct buf *b, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->max = max;
}

void
buf_free(struct buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

/* Forget the contents but keep the memory. */
void
buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->p != NULL)
		b->p[0] = '\0';
}

/*
 * Append sz bytes and keep a NUL after them.  Returns 0, or -1 when the
 * maximum would be passed or memory runs out (the buffer is unchanged).
 */
int
buf_add(struct buf *b, const void *p, size_t sz)
{
	size_t	 ncap;
	char	*np;

	if (sz > b->max || b->len > b->max - sz)
		return -1;
	if (b->len + sz + 1 > b->cap) {
		ncap = b->cap ? b->cap : 256;
		while (ncap < b->len + sz + 1)
			ncap *= 2;
		if (ncap > b->max + 1)
			ncap = b->max + 1;
		if ((np = realloc(b->p, ncap)) == NULL)
			return -1;
		b->p = np;
		b->cap = ncap;
	}
	if (sz > 0)
		memcpy(b->p + b->len, p, sz);
	b->len += sz;
	b->p[b->len] = '\0';
	return 0;
}

int
buf_adds(struct buf *b, const char *s)
{
	return buf_add(b, s, strlen(s));
}
