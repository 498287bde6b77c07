; Jamwire's Windows installer: per user (no administrator rights), built by
; `scripts/package --windows` with Debian's makensis:
;   makensis -DVERSION=0.1.0 -DSTAGE=<folder> -DOUTFILE=<setup.exe> installer.nsi
; STAGE holds jamwire.exe, WebView2Loader.dll, jam.exe, jam-relay.exe and assets\.
; Installs into %LOCALAPPDATA%\Programs\Jamwire, adds a Start-menu entry, registers the jam://
; and jams:// invite links for the current user, and an uninstaller that removes all of that.
; Settings and takes live in %APPDATA%\app.jamwire.desktop and stay, as on Linux.
; `setup.exe /S` installs silently; `uninstall.exe /S` removes silently.

Unicode true
Target amd64-unicode
!ifdef FAST
  ; A debug build for the tests (-DFAST): packed quickly rather than small.
  SetCompressor zlib
!else
  SetCompressor /SOLID lzma
  ; A dictionary as large as the samples: `jam.exe` and `jam-relay.exe` embed the same
  ; recordings as assets\, and a solid archive then stores them once.
  SetCompressorDictSize 64
!endif

!ifndef VERSION
  !error "VERSION is not defined (-DVERSION=…)"
!endif
!ifndef STAGE
  !error "STAGE is not defined (-DSTAGE=<folder with the files>)"
!endif
!ifndef OUTFILE
  !error "OUTFILE is not defined (-DOUTFILE=<setup.exe>)"
!endif

!define UNINSTALL_KEY "Software\Microsoft\Windows\CurrentVersion\Uninstall\Jamwire"
!define WEBVIEW2_KEY "Microsoft\EdgeUpdate\Clients\{F3017226-FE2A-4295-8BDF-00C3A9A7E4C5}"
!define WEBVIEW2_URL "https://developer.microsoft.com/microsoft-edge/webview2/"

!include "LogicLib.nsh"

Name "Jamwire"
OutFile "${OUTFILE}"
RequestExecutionLevel user
InstallDir "$LOCALAPPDATA\Programs\Jamwire"
BrandingText "Jamwire ${VERSION}"
Icon "..\icons\icon.ico"
UninstallIcon "..\icons\icon.ico"
VIProductVersion "${VERSION}.0"
VIAddVersionKey "ProductName" "Jamwire"
VIAddVersionKey "ProductVersion" "${VERSION}"
VIAddVersionKey "FileDescription" "Jamwire installer"
VIAddVersionKey "FileVersion" "${VERSION}"
VIAddVersionKey "LegalCopyright" "The Jamwire authors"

Page directory
Page instfiles
UninstPage uninstConfirm
UninstPage instfiles

; Registers SCHEME:// links to open Jamwire with the link (the app fills in its Join form).
!macro Protocol SCHEME
  WriteRegStr HKCU "Software\Classes\${SCHEME}" "" "URL:Jamwire invite"
  WriteRegStr HKCU "Software\Classes\${SCHEME}" "URL Protocol" ""
  WriteRegStr HKCU "Software\Classes\${SCHEME}\DefaultIcon" "" "$INSTDIR\jamwire.exe,0"
  WriteRegStr HKCU "Software\Classes\${SCHEME}\shell\open\command" "" '"$INSTDIR\jamwire.exe" "%1"'
!macroend

Section "Jamwire"
  SetOutPath "$INSTDIR"
  File "${STAGE}\jamwire.exe"
  File "${STAGE}\WebView2Loader.dll"
  File "${STAGE}\jam.exe"
  File "${STAGE}\jam-relay.exe"
  SetOutPath "$INSTDIR\assets"
  File /r "${STAGE}\assets\*"
  SetOutPath "$INSTDIR"
  WriteUninstaller "$INSTDIR\uninstall.exe"

  CreateShortcut "$SMPROGRAMS\Jamwire.lnk" "$INSTDIR\jamwire.exe" "" "$INSTDIR\jamwire.exe" 0
  !insertmacro Protocol "jam"
  !insertmacro Protocol "jams"

  ; Settings → Apps: name, version, size, and how to remove it.
  WriteRegStr HKCU "${UNINSTALL_KEY}" "DisplayName" "Jamwire"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "DisplayVersion" "${VERSION}"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "Publisher" "Jamwire"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "DisplayIcon" "$INSTDIR\jamwire.exe"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "InstallLocation" "$INSTDIR"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "UninstallString" '"$INSTDIR\uninstall.exe"'
  WriteRegStr HKCU "${UNINSTALL_KEY}" "QuietUninstallString" '"$INSTDIR\uninstall.exe" /S'
  WriteRegDWORD HKCU "${UNINSTALL_KEY}" "NoModify" 1
  WriteRegDWORD HKCU "${UNINSTALL_KEY}" "NoRepair" 1
  SectionGetSize 0 $0
  WriteRegDWORD HKCU "${UNINSTALL_KEY}" "EstimatedSize" $0

  Call CheckWebView2
SectionEnd

; The app's window is Microsoft Edge WebView2. Windows 10 and 11 usually have its runtime;
; when this one doesn't, say so and where to get it (the app says the same if started without).
Function CheckWebView2
  SetRegView 64
  ReadRegStr $0 HKLM "SOFTWARE\WOW6432Node\${WEBVIEW2_KEY}" "pv"
  ${If} $0 == ""
  ${OrIf} $0 == "0.0.0.0"
    ReadRegStr $0 HKLM "SOFTWARE\${WEBVIEW2_KEY}" "pv"
  ${EndIf}
  ${If} $0 == ""
  ${OrIf} $0 == "0.0.0.0"
    ReadRegStr $0 HKCU "Software\${WEBVIEW2_KEY}" "pv"
  ${EndIf}
  SetRegView default
  ${If} $0 == ""
  ${OrIf} $0 == "0.0.0.0"
    DetailPrint "The Microsoft Edge WebView2 Runtime is missing: ${WEBVIEW2_URL}"
    MessageBox MB_OK|MB_ICONINFORMATION "Jamwire is installed, but its window needs the Microsoft Edge WebView2 Runtime, which this computer doesn't have.$\r$\n$\r$\nDownload the Evergreen installer from ${WEBVIEW2_URL}, run it, then start Jamwire." /SD IDOK
  ${EndIf}
FunctionEnd

Section "Uninstall"
  Delete "$INSTDIR\jamwire.exe"
  Delete "$INSTDIR\WebView2Loader.dll"
  Delete "$INSTDIR\jam.exe"
  Delete "$INSTDIR\jam-relay.exe"
  RMDir /r "$INSTDIR\assets"
  Delete "$INSTDIR\uninstall.exe"
  RMDir "$INSTDIR"
  Delete "$SMPROGRAMS\Jamwire.lnk"
  ; The invite links, only if they still open this installation.
  ReadRegStr $0 HKCU "Software\Classes\jam\shell\open\command" ""
  ${If} $0 == '"$INSTDIR\jamwire.exe" "%1"'
    DeleteRegKey HKCU "Software\Classes\jam"
  ${EndIf}
  ReadRegStr $0 HKCU "Software\Classes\jams\shell\open\command" ""
  ${If} $0 == '"$INSTDIR\jamwire.exe" "%1"'
    DeleteRegKey HKCU "Software\Classes\jams"
  ${EndIf}
  DeleteRegKey HKCU "${UNINSTALL_KEY}"
SectionEnd
