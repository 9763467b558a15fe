; Inno Setup 6 script: a Windows installer over the one-dir PyInstaller bundle (dist\pconv-studio\).
; NOT built or tested in this project's CI (Linux only); kept consistent with build.spec and the .deb:
; same bundle, same app name and version, a Start-menu entry, a clean uninstall.
;
; On Windows, from the repository root (see docs\packaging.md):
;   py -3.11 -m venv .venv
;   .venv\Scripts\python -m pip install "torch==2.13.0" -e ".[package]"     (CPU torch; CUDA: see docs)
;   .venv\Scripts\python -m PyInstaller --noconfirm --clean --workpath build\pyinstaller --distpath dist build.spec
;   dist\pconv-studio\pconv-studio.exe --selftest  &  echo %ERRORLEVEL%       (windowed app: the exit code is the result)
;   iscc /DAppVersion=0.1.0 packaging\windows\pconv-studio.iss
; -> dist\pconv-studio-0.1.0-windows-x64-setup.exe

#ifndef AppVersion
  #error Pass the version from pyproject.toml: iscc /DAppVersion=X.Y.Z packaging\windows\pconv-studio.iss
#endif
#define AppName "PConv Studio"
#define AppExe "pconv-studio.exe"

[Setup]
; The AppId identifies the installation for upgrades and uninstall: never change it.
AppId={{6C1E2F3A-9B7D-4E58-A0C4-2D5F8B1E7A93}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher=PConv Studio developers
SourceDir=..\..
OutputDir=dist
OutputBaseFilename=pconv-studio-{#AppVersion}-windows-x64-setup
DefaultDirName={autopf}\{#AppName}
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
; Per-user install without administrator rights is offered too.
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
UninstallDisplayIcon={app}\{#AppExe}
WizardStyle=modern
; The bundle is about 700 MB (CPU) or several GB (CUDA): solid LZMA2 gives a setup of roughly a third of that.
Compression=lzma2/normal
SolidCompression=yes

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Files]
Source: "dist\pconv-studio\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{autoprograms}\{#AppName}"; Filename: "{app}\{#AppExe}"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\{#AppExe}"; Tasks: desktopicon

[Run]
Filename: "{app}\{#AppExe}"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent
