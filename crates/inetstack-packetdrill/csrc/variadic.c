/*
 * The two variadic entries of packetdrill's interface, fcntl(userdata, fd, cmd, ...) and
 * ioctl(userdata, fd, request, ...). Stable Rust cannot define a C-variadic function (c_variadic is
 * unstable), so these wrappers take the single optional argument off the va_list and pass it on to a plain
 * Rust function. Both calls take at most one extra argument, an integer or a pointer, so reading one
 * pointer-sized word is enough. When the caller passed none (fcntl F_GETFL/F_GETFD), the word read is
 * whatever sits in the next argument slot and the Rust side never looks at it: glibc's own fcntl and ioctl
 * read their optional argument the same way.
 */
#include <stdarg.h>

int inetstack_pd_fcntl_impl(void *userdata, int fd, int cmd, unsigned long arg);
int inetstack_pd_ioctl_impl(void *userdata, int fd, unsigned long request, void *arg);

int inetstack_pd_fcntl(void *userdata, int fd, int cmd, ...)
{
	va_list ap;
	unsigned long arg;

	va_start(ap, cmd);
	arg = va_arg(ap, unsigned long);
	va_end(ap);
	return inetstack_pd_fcntl_impl(userdata, fd, cmd, arg);
}

int inetstack_pd_ioctl(void *userdata, int fd, unsigned long request, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, request);
	arg = va_arg(ap, void *);
	va_end(ap);
	return inetstack_pd_ioctl_impl(userdata, fd, request, arg);
}
